"""One running portal (``tests.support.stack``) shared by the security tests of the session, and
the data every OWASP module needs: citizen A's dossier with its files, draft and payment order,
a province's status batch."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis

from tests.support.dossier import PDF
from tests.support.stack import Principal, Stack, running_stack
from tests.support.sync import H22


@pytest.fixture(scope="session")
def stack(  # type: ignore[no-untyped-def]
    infra,
    identity_template,
    catalogue_seeded_template,
    dossier_template,
    payment_template,
    sync_template,
    feedback_template,
    notification_template,
) -> Iterator[Stack]:
    # A body that stops arriving is cut off after 3 s here rather than the default 10 s: the test
    # that proves it waits that long (clients here send their bodies whole, far within it).
    with running_stack(infra, infra.workdir / "security", body_idle_seconds=3.0) as running:
        yield running


@pytest.fixture(autouse=True)
def _portal_log_attached(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that builds an app of its own reconfigures logging; keep the stack's log copy."""
    yield
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").portal_log.attach()


@dataclass
class Owned:
    """What citizen A owns (and B must not reach), and what the province pushed."""

    dossier: dict[str, Any]  # the receipt
    attachment_id: str
    draft_id: str
    order: dict[str, Any]
    batch_id: str
    feedback_id: str  # general feedback, at the receiving office (no official of the stack's agencies has it)
    inbox_item_id: str  # the notice of A's filing, in A's inbox


def file_dossier(api: httpx.Client, headers: dict[str, str], service_id: str) -> tuple[dict[str, Any], list[str]]:
    """A complete dossier for the intake service, filed through the gateway: (receipt, file ids)."""
    refs = []
    for component in ("TP01", "TP02"):
        up = api.post("/api/v1/dossier/attachments", headers=headers, files={"file": ("a.pdf", PDF)})
        assert up.status_code == 201, up.text
        refs.append({"id": up.json()["id"], "component_code": component})
    body = {"service_id": service_id, "attachments": refs,
            "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
            "form": {"ho_ten": "Nguyễn Văn An", "so_gplx": "220123456789"}}  # fmt: skip
    filed = api.post("/api/v1/dossier/dossiers", headers=headers, json=body)
    assert filed.status_code == 201, filed.text
    return filed.json(), [r["id"] for r in refs]


def order_for(api: httpx.Client, headers: dict[str, str], dossier_id: str, timeout: float = 30) -> dict[str, Any]:
    """A VNPay order for the dossier's fees, once the payment service has learnt them by event."""
    deadline = time.monotonic() + timeout
    while True:
        answer = api.post("/api/v1/payment/orders", headers=headers,
                          json={"dossier_id": dossier_id, "provider": "vnpay"})  # fmt: skip
        if answer.status_code in (200, 201):
            return answer.json()  # type: ignore[no-any-return]
        assert answer.status_code == 404 and time.monotonic() < deadline, answer.text
        time.sleep(0.3)


@pytest.fixture(scope="session")
def owned(stack: Stack) -> Owned:
    a = stack.headers("citizen_a")
    with stack.client() as api:
        receipt, files = file_dossier(api, a, stack.service_id)
        draft = api.post("/api/v1/dossier/drafts", headers=a,
                         json={"service_id": stack.service_id, "content": {"ho_ten": "Nguyễn Văn An"}})  # fmt: skip
        assert draft.status_code == 201, draft.text
        order = order_for(api, a, receipt["dossier_id"])
        pushed = api.post("/api/v1/sync/records", headers=stack.headers("province"), json={"records": [
            {"dossier_code": receipt["code"], "agency_code": H22, "status": 2, "occurred_at": _now(),
             "record_id": uuid.uuid4().hex}]})  # fmt: skip
        assert pushed.status_code == 200, pushed.text
        sent = api.post("/api/v1/feedback/feedback", headers=a, json={
            "topic": "general", "title": "Góp ý về thủ tục", "content": "Nội dung góp ý của công dân A, đủ dài.",
            "consent_to_publish": False, "contact": {"kind": "citizen", "name": "Nguyễn Văn An",
            "phone": "0912345678", "email": "an@example.vn", "address": "Hà Nội"}})  # fmt: skip
        assert sent.status_code == 201, sent.text
        inbox = inbox_item(api, a)
    return Owned(receipt, files[0], draft.json()["id"], order, pushed.json()["batch_id"], sent.json()["id"], inbox)


def inbox_item(api: httpx.Client, headers: dict[str, str], seconds: float = 30) -> str:
    """The newest item of the caller's inbox, once the notification worker has made one."""
    deadline = time.monotonic() + seconds
    while True:
        items = api.get("/api/v1/notification/inbox", headers=headers).json()["items"]
        if items:
            return str(items[0]["id"])
        assert time.monotonic() < deadline, "no notice reached the inbox"
        time.sleep(0.2)


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


# --- real accounts and real sign-ins through the gateway ------------------------------------

WEB_CLIENT, WEB_REDIRECT = "demo-web", "http://127.0.0.1:8765/callback"
CITIZEN_SCOPE = "openid profile dossier:submit dossier:read payment:pay"
TEST_PASSWORD = "Security-Test-2026!"  # of the accounts the tests register


@dataclass
class Person:
    login: str  # the personal identification number
    password: str
    phone: str
    account_id: str


def forwarded(ip: str) -> dict[str, str]:
    """Requests as if from ``ip``: the gateway believes the address its trusted proxy (loopback in
    the tests) forwards, as in production behind the load balancer."""
    return {"X-Forwarded-For": ip}


def start_registration(api: httpx.Client, n: int, password: str = TEST_PASSWORD) -> dict[str, Any]:
    """Registration of citizen number ``n`` (a valid personal id and phone of its own), from an
    address of its own; the answer's JSON with the person's data."""
    personal_id, phone = f"0792010{n:05d}", f"+849{n:08d}"
    ip = forwarded(f"198.51.100.{n % 250 + 1}")
    started = api.post("/api/v1/identity/registrations/citizen", headers=ip, json={
        "personal_id": personal_id, "full_name": "Trần Thị Kiểm Thử", "birth_date": "2001-02-03",
        "phone": phone, "password": password})  # fmt: skip
    assert started.status_code == 202, started.text
    return {**started.json(), "personal_id": personal_id, "phone": phone, "password": password, "ip": ip}


def last_code(api: httpx.Client, phone: str) -> str:
    """The one-time code last 'sent' to ``phone`` (the development notifier keeps it)."""
    messages = api.get("/api/v1/identity/dev/messages", params={"to": phone}).json()["messages"]
    return re.search(r"(?<!\d)(\d{6,10})(?!\d)", messages[0]["body"]).group(1)  # type: ignore[union-attr]


def register_citizen(stack: Stack, n: int, password: str = TEST_PASSWORD) -> Person:
    """A new, verified citizen account, through the registration API and its one-time code."""
    with stack.client() as api:
        started = start_registration(api, n, password)
        verified = api.post(
            "/api/v1/identity/registrations/verify",
            headers=started["ip"],
            json={"account_id": started["account_id"], "code": last_code(api, started["phone"])},
        )
        assert verified.status_code == 200, verified.text
    return Person(started["personal_id"], password, started["phone"], started["account_id"])


def pkce_pair() -> tuple[str, str]:
    import base64
    import hashlib
    import secrets

    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def submit_sign_in(
    browser: httpx.Client, login: str, password: str, *, ip: str, challenge: str, totp: str | None = None,
    scope: str = CITIZEN_SCOPE,
) -> httpx.Response:  # fmt: skip
    """The sign-in form as a browser fills it, from ``ip``; the answer to the post."""
    from tests.identity.oidc.conftest import read_form

    params = {"client_id": WEB_CLIENT, "redirect_uri": WEB_REDIRECT, "response_type": "code", "scope": scope,
              "state": uuid.uuid4().hex, "nonce": uuid.uuid4().hex, "code_challenge": challenge,
              "code_challenge_method": "S256"}  # fmt: skip
    page = browser.get("/oauth2/authorize", params=params, headers=forwarded(ip))
    assert page.status_code == 200, page.text
    form = read_form(page.text).fields | {"login": login, "password": password}
    if totp is not None:
        form["totp"] = totp
    return browser.post("/oauth2/authorize", data=form, headers=forwarded(ip))


def sign_in(stack: Stack, login: str, password: str, *, ip: str = "192.0.2.10", totp: str | None = None,
            scope: str = CITIZEN_SCOPE) -> dict[str, Any]:  # fmt: skip
    """Authorization code + PKCE through the gateway; the token answer (access, refresh, ID token)."""
    from urllib.parse import parse_qs, urlsplit

    verifier, challenge = pkce_pair()
    with stack.client(follow_redirects=False) as browser:
        answer = submit_sign_in(browser, login, password, ip=ip, challenge=challenge, totp=totp, scope=scope)
        assert answer.status_code == 303, answer.text[:500]
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        tokens = browser.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": WEB_REDIRECT,
                "code_verifier": verifier,
                "client_id": WEB_CLIENT,
            },
        )
        assert tokens.status_code == 200, tokens.text
    return {**tokens.json(), "code": code, "code_verifier": verifier}  # type: ignore[no-any-return]


# --- the merged document, as the contract tests read it ----------------------------------------

# Paths whose errors follow their own protocol rather than RFC 9457.
OWN_ERROR_FORMATS = ("/oauth2/", "/.well-known/")


@pytest.fixture(scope="module")
def merged_document(stack: Stack) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{stack.url}/openapi.json", timeout=30).json()
    assert "x-unavailable-services" not in document, document.get("x-unavailable-services")
    return document


@pytest.fixture(scope="module")
def fuzz_account(stack: Stack) -> None:
    """A real account of the fuzzer's own for the account routes (see routes.FUZZ_CALLER)."""
    if "citizen_fuzz" not in stack.principals:
        person = register_citizen(stack, 301)
        citizen = stack.principals["citizen_a"]
        stack.principals["citizen_fuzz"] = Principal(person.account_id, citizen.scope, citizen.aud)


@pytest.fixture(scope="module")
def merged_api(stack: Stack, merged_document: dict[str, Any]) -> Any:
    schema = schemathesis.openapi.from_dict(merged_document)
    schema.config.update(base_url=stack.url, request_timeout=30)
    return schema


def problem_details(ctx: Any, response: Any, case: Any) -> bool | None:
    """An error answer is ``application/problem+json`` with the RFC 9457 members, its status
    the response's own, and nothing that looks like a stack trace or SQL."""
    if response.status_code < 400 or case.path.startswith(OWN_ERROR_FORMATS):
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.split(";")[0] == "application/problem+json", f"error answered as {content_type!r}"
    body = json.loads(response.content)
    assert isinstance(body.get("type"), str) and isinstance(body.get("title"), str), body
    assert body.get("status") == response.status_code, body
    text = response.content.decode("utf-8", "replace")
    # What the caller sent may be named back (an unknown field's name): only the rest is a leak.
    # Hypothesis also draws strings from constants in the code under test, "sqlalchemy.engine" say.
    sent = json.dumps([case.path_parameters, case.query, case.body], default=str, ensure_ascii=False)
    for leak in ("Traceback", 'File "', "sqlalchemy", "asyncpg", "psycopg", "SELECT ", "INSERT INTO"):
        assert leak not in text or leak in sent, f"the error body leaks {leak!r}: {text[:300]}"
    return True
