"""The whole portal behind the real gateway for one test session: the services' APIs on real
HTTP, each over its own fresh database on the session's PostgreSQL, the dossier and payment
workers on the session's broker, and the gateway in front (its URL is the issuer).

Built from the same pieces as the end-to-end journeys (``tests.support.journey``): tokens are
signed with a test issuer key the way ``tests/e2e`` sign them, and the JWKS every service and the
gateway trust publishes that key *and* the identity service's own keys, so the tokens the real
identity service issues (sign-in, client credentials, refresh) work across the portal too.

Every log line the portal writes while the stack runs is also written, rendered exactly as the
processes write it (JSON, scrubbed by ``services.kit.logging``), to ``<log_dir>/portal.log``, for
the test that scans the logs for secrets.

The sync worker is deliberately not run: a fuzzer registering agency endpoints must never make
the portal deliver anywhere. The payment worker's provider (VNPay's merchant API) is a local
fake the tests steer (:class:`FakeProvider`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from contracts.services import service_names
from deploy.local.components import free_port
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.identity.service.accounts import SEED_ADMIN_ID, SEED_CITIZEN_ID, SEED_OFFICIAL_ID
from services.kit.settings import ServiceSettings
from tests.support.catalogue import catalogue_settings
from tests.support.dossier import dossier_settings
from tests.support.feedback import feedback_settings
from tests.support.identity import identity_settings, seed_identity
from tests.support.journey import intake_service, workers
from tests.support.notification import notification_settings
from tests.support.payment import BANK_SECRETS, VNPAY_SECRET, payment_settings
from tests.support.servers import serve
from tests.support.sync import H22, sync_settings
from tests.support.tokens import Keys, bearer, jwks_server, token

SERVICES = service_names()
OTHER_AGENCY = "000.00.01.H26"
# Browsers from this origin may call the API (the stack's CORS allow-list).
ALLOWED_ORIGIN = "https://dichvucong.example.vn"
TOKEN_SECONDS = 3 * 3600  # the whole session
MFA = "urn:portal:acr:mfa"  # officials sign in with a second factor


@dataclass(frozen=True)
class Principal:
    """Who a token speaks for: its subject, scopes, audiences and extra claims."""

    sub: str
    scope: str
    aud: tuple[str, ...]
    claims: dict[str, Any] = field(default_factory=dict)


# The callers the tests act as. Citizen A, the official and the administrator are the
# development fixtures' accounts (so identity knows them); citizen B is a second person.
PRINCIPALS: dict[str, Principal] = {
    "citizen_a": Principal(SEED_CITIZEN_ID, "openid profile dossier:submit dossier:read payment:pay feedback:send "
                           "notification:read", ("identity", "dossier", "payment", "feedback", "notification")),
    "citizen_b": Principal("7b0c5f4e-2d1a-4c3b-9e8f-b1c2d3e4f5a6", "openid profile dossier:submit dossier:read "
                           "payment:pay feedback:send notification:read",
                           ("identity", "dossier", "payment", "feedback", "notification")),
    # Citizen B with a token every service accepts (the audience of all of them): what a service's
    # own checks refuse, rather than the gateway's audience check.
    "citizen_b_everywhere": Principal("7b0c5f4e-2d1a-4c3b-9e8f-b1c2d3e4f5a6", "openid profile dossier:submit "
                                      "dossier:read payment:pay feedback:send notification:read", SERVICES),
    "official": Principal(SEED_OFFICIAL_ID, "openid dossier:process dossier:read catalogue:edit feedback:process "
                          "notification:read", ("identity", "dossier", "catalogue", "feedback", "notification"),
                          {"agencies": [H22], "acr": MFA}),
    "official_other": Principal("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "openid dossier:process dossier:read "
                                "catalogue:edit feedback:process notification:read",
                                ("identity", "dossier", "catalogue", "feedback", "notification"),
                                {"agencies": [OTHER_AGENCY], "acr": MFA}),
    "admin": Principal(SEED_ADMIN_ID, "openid catalogue:admin payment:admin sync:admin identity:admin dossier:read "
                       "notification:templates", SERVICES, {"acr": MFA}),
    # The notification service's client at identity: contact details of an account.
    "notifier": Principal("notification-service", "identity:contacts", ("identity",),
                          {"client_id": "notification-service"}),
    "province": Principal("demo-province", "sync:push", ("sync",), {"client_id": "demo-province", "agencies": [H22]}),
    # The fuzzer pushes as a client of its own, so its pushes spend no other test's rate budget.
    "province_fuzz": Principal("fuzz-province", "sync:push", ("sync",),
                               {"client_id": "fuzz-province", "agencies": [H22]}),
    "province_other": Principal("other-province", "sync:push", ("sync",),
                                {"client_id": "other-province", "agencies": [OTHER_AGENCY]}),
}  # fmt: skip


class FakeProvider:
    """VNPay's merchant web API as the tests want it to answer: ``answer`` maps the request's
    JSON to a response (a hostile one, in the tests of unsafe consumption)."""

    def __init__(self) -> None:
        self.app = FastAPI()
        self.answer: Callable[[dict[str, Any]], Response] = lambda _: Response(status_code=503)
        self.calls = 0

        @self.app.post("/merchant_webapi/api/transaction")
        async def transaction(request: Request) -> Response:
            self.calls += 1
            return self.answer(await request.json())


@dataclass
class Stack:
    url: str  # the gateway, which is also the issuer
    direct: dict[str, str]  # each service's own base URL, bypassing the gateway
    settings: dict[str, ServiceSettings]
    gateway_settings: GatewaySettings
    keys: Keys
    service_id: str  # the online service the dossier service offers (intake form, fees)
    provider: FakeProvider
    provider_url: str
    log_dir: Path
    portal_log: PortalLog
    principals: dict[str, Principal] = field(default_factory=lambda: dict(PRINCIPALS))
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def key(self) -> dict[str, Any]:
        """The test issuer's private JWK (published in the JWKS every verifier trusts)."""
        return self.keys.published[0]

    def mint(self, principal: Principal, *, seconds: int = TOKEN_SECONDS, **overrides: Any) -> str:
        claims = {"client_id": "demo-web", **principal.claims, **overrides}
        aud = list(principal.aud) if len(principal.aud) > 1 else principal.aud[0]
        return token(self.key, scope=principal.scope, aud=aud, iss=self.issuer, sub=principal.sub, exp=seconds,
                     jti=uuid.uuid4().hex, **claims)  # fmt: skip

    def token(self, who: str) -> str:
        """A session-long token for one of :data:`PRINCIPALS` (signed once, then reused)."""
        if who not in self._tokens:
            self._tokens[who] = self.mint(self.principals[who])
        return self._tokens[who]

    def headers(self, who: str) -> dict[str, str]:
        return bearer(self.token(who))

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kw)

    def async_client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30, **kw)

    def issued_tokens(self) -> list[str]:
        return list(self._tokens.values())


class PortalLog(logging.Handler):
    """Writes every record as the portal's own handler renders it (the kit's JSON formatter, after
    its scrubbing) to a file. Stays attached even when an app made later reconfigures logging
    (see :meth:`attach`)."""

    def __init__(self, path: Path, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.path = path
        self.setFormatter(formatter)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a record that cannot be rendered is not ours to fail on
            self.handleError(record)
            return
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def attach(self) -> None:
        root = logging.getLogger()
        if self not in root.handlers:
            root.addHandler(self)

    def close(self) -> None:
        logging.getLogger().removeHandler(self)
        with self._lock:
            self._file.close()
        super().close()


@contextmanager
def background(*running: tuple[Any, ServiceSettings]) -> Iterator[None]:
    """The services' workers in a thread of their own with its own event loop, so they keep
    working while synchronous tests (the fuzzer) hold the main thread."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()

    async def main() -> None:
        async with workers(*running):
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True, name="stack-workers")
    thread.start()
    started.wait(30)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


def _databases(infra: Any) -> dict[str, str]:
    from tests.conftest import fresh_database

    templates = {"identity": "test_identity_template", "catalogue": "test_catalogue_seeded_template",
                 "dossier": "test_dossier_template", "payment": "test_payment_template",
                 "sync": "test_sync_template", "feedback": "test_feedback_template",
                 "notification": "test_notification_template"}  # fmt: skip

    async def make() -> dict[str, str]:
        return {name: await fresh_database(infra.server_url, template) for name, template in templates.items()}

    return asyncio.run(make())


@contextmanager
def running_stack(infra: Any, workdir: Path, **gateway_overrides: Any) -> Iterator[Stack]:
    """The stack described in this module's docstring. ``infra`` is the session's servers; the
    service templates (``*_template`` fixtures) must exist already."""
    from services.dossier.app import SERVICE as DOSSIER
    from services.notification.app import SERVICE as NOTIFICATION
    from services.payment.app import SERVICE as PAYMENT

    log_dir = workdir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    urls = _databases(infra)
    gateway_port = free_port()
    issuer = f"http://127.0.0.1:{gateway_port}"
    with ExitStack() as stack:
        keys, jwks_url = stack.enter_context(jwks_server())
        provider = FakeProvider()
        provider_url = stack.enter_context(serve(provider.app))
        common = {"oidc_issuer": issuer, "oidc_jwks_url": jwks_url, "log_json": True, "outbox_poll_seconds": 0.2}
        settings: dict[str, ServiceSettings] = {
            # Refresh tokens: a short grace window, so a reuse can be shown within a test.
            "identity": identity_settings(urls["identity"], infra.bootstrap, refresh_grace_seconds=1,
                                          password_hash_time_cost=1, password_hash_memory_kib=8 * 1024, **common),
            "catalogue": catalogue_settings(urls["catalogue"], infra.bootstrap, **common),
            "dossier": dossier_settings(urls["dossier"], infra.bootstrap, storage_dir=workdir / "dossier-files",
                                        **common),
            "payment": payment_settings(urls["payment"], infra.bootstrap, vnpay_hash_secret=VNPAY_SECRET,
                                        vnpay_api_url=f"{provider_url}/merchant_webapi/api/transaction",
                                        bank_webhook_secrets=BANK_SECRETS, **common),
            "sync": sync_settings(urls["sync"], infra.bootstrap, push_rate_per_minute=60, push_burst=60, **common),
            "feedback": feedback_settings(urls["feedback"], infra.bootstrap, storage_dir=workdir / "feedback-files",
                                          **common),
            "notification": notification_settings(urls["notification"], infra.bootstrap, **common),
        }  # fmt: skip
        seed_identity(urls["identity"], settings["identity"])  # type: ignore[arg-type]
        service_id = asyncio.run(intake_service(infra.bootstrap, urls["dossier"]))
        direct = {}
        for name in SERVICES:
            module = __import__(f"services.{name}.app", fromlist=["create_app"])
            direct[name] = stack.enter_context(serve(module.create_app(settings[name])))
        gateway_settings = GatewaySettings(
            port=gateway_port, public_url=issuer, oidc_jwks_url=jwks_url, log_json=True,
            **{f"{name}_url": direct[name] for name in SERVICES},
            **{"rate_limit_per_minute": 0, "cors_origins": [ALLOWED_ORIGIN], **gateway_overrides},
        )  # fmt: skip
        url = stack.enter_context(serve(create_gateway(gateway_settings), port=gateway_port))
        # Every app has configured logging by now: render our copy of the lines as they do.
        log = PortalLog(log_dir / "portal.log", logging.getLogger().handlers[0].formatter)  # type: ignore[arg-type]
        log.attach()
        stack.callback(log.close)
        # Trust the identity service's keys too (published next to the test issuer's).
        published = httpx.get(f"{direct['identity']}/oauth2/jwks", timeout=10).json()["keys"]
        keys.published.extend(published)
        stack.enter_context(background((DOSSIER, settings["dossier"]), (PAYMENT, settings["payment"]),
                                       (NOTIFICATION, settings["notification"])))  # fmt: skip
        _wait_ready(url)
        yield Stack(url, direct, settings, gateway_settings, keys, service_id, provider, provider_url, log_dir, log)


def _wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError("the stack did not become ready")
