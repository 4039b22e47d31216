"""OpenID Connect Back-Channel Logout 1.0 end to end on real HTTP: a person signs in to the
sandbox province portal through the portal's SSO; signing out at the portal, or an administrator
locking the account, ends the province portal's session; a relying party that is down is tried
again until it takes the logout token; the token is checked with joserfc, not the project's code."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI, Request, Response
from joserfc import jwt as rfc_jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from deploy.local.components import free_port
from deploy.sandbox.province_portal import ProvincePortalSettings
from deploy.sandbox.province_portal import create_app as province_portal
from services.identity.adapters.logout import backchannel_logouts
from services.identity.api.jobs import deliver_backchannel_logouts
from services.identity.app import SERVICE, create_app
from services.identity.domain.oauth import ClientKind
from services.identity.service.accounts import SEED_ACCOUNTS, SEED_CITIZEN_ID
from services.identity.service.clients import DEMO_OPERATOR_REDIRECT, create_client
from services.identity.service.keys import signer
from services.identity.settings import IdentitySettings
from services.kit.jose import sign_pem
from services.kit.worker import Worker
from tests.identity.oidc.conftest import pkce, provider_settings, query, read_form
from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD
from tests.support.identity import identity_database, seed_identity
from tests.support.servers import serve

pytestmark = pytest.mark.integration

EVENT = "http://schemas.openid.net/event/backchannel-logout"
SECRET = "province-test-secret-0123456789"
ADMIN = next(a for a in SEED_ACCOUNTS if a["kind"] == "admin")


@dataclass
class Stack:
    url: str  # the identity provider (the issuer)
    settings: IdentitySettings
    db_url: str
    portal: str = ""  # the sandbox province portal
    client_id: str = ""

    async def deliver(self, settings: IdentitySettings | None = None) -> dict[str, int]:
        db = identity_database(self.db_url)
        try:
            return await deliver_backchannel_logouts(db, settings or self.settings)
        finally:
            await db.dispose()

    async def age_logouts(self, days: int) -> None:
        """Make every logout row look ``days`` older (for the audit's retention)."""
        db = identity_database(self.db_url)
        try:
            async with db.engine.begin() as conn:
                older = backchannel_logouts.c.created_at - timedelta(days=days)
                await conn.execute(update(backchannel_logouts).values(created_at=older))
        finally:
            await db.dispose()

    async def logouts(self) -> list[Any]:
        db = identity_database(self.db_url)
        try:
            async with db.engine.connect() as conn:
                return list(await conn.execute(select(backchannel_logouts).order_by(backchannel_logouts.c.id)))
        finally:
            await db.dispose()


async def register(stack: Stack, client_id: str, base: str) -> None:
    """A province portal's client: code + PKCE, secret, its logout URI at ``base``."""
    db = identity_database(stack.db_url)
    try:
        async with db.transaction() as uow:
            await create_client(
                uow, client_id=client_id, name="Cổng tỉnh (test)", kind=ClientKind.CONFIDENTIAL,
                grant_types=["authorization_code"], redirect_uris=[f"{base}/callback"], secret=SECRET,
                backchannel_logout_uri=f"{base}/backchannel-logout", backchannel_logout_session_required=True,
            )  # fmt: skip
    finally:
        await db.dispose()


@pytest.fixture
def stack(identity_db_url, infra) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    port, portal_port = free_port(), free_port()
    settings = provider_settings(
        identity_db_url, infra.bootstrap, port, oidc_jwks_url=f"http://127.0.0.1:{port}/oauth2/jwks",
        backchannel_timeout_seconds=2, backchannel_every_seconds=0.2,
    )  # fmt: skip
    seed_identity(identity_db_url, settings)
    stack = Stack(f"http://127.0.0.1:{port}", settings, identity_db_url, client_id="province-test")
    portal_base = f"http://127.0.0.1:{portal_port}"
    asyncio.run(register(stack, stack.client_id, portal_base))
    portal_settings = ProvincePortalSettings(
        environment="test", issuer=settings.oidc_issuer, public_url=portal_base, client_id=stack.client_id,
        client_secret=SECRET,
    )  # fmt: skip
    with serve(create_app(settings), port=port), serve(province_portal(portal_settings), port=portal_port):
        stack.portal = portal_base
        yield stack


async def sign_in_at_the_province(stack: Stack, portal: httpx.AsyncClient, national: httpx.AsyncClient) -> None:
    """Sign in with the national portal, as a browser does: the province portal sends it to the
    authorization endpoint, the person fills the form, the browser comes back with a code."""
    to_portal = await portal.get("/login")
    assert to_portal.status_code == 303, to_portal.text
    page = await national.get(to_portal.headers["location"])
    assert page.status_code == 200, page.text
    form = read_form(page.text).fields | {"login": CITIZEN_LOGIN, "password": CITIZEN_PASSWORD}
    back = await national.post("/oauth2/authorize", data=form)
    assert back.status_code == 303 and back.headers["location"].startswith(stack.portal + "/callback"), back.text
    signed_in = await portal.get(back.headers["location"])
    assert signed_in.status_code == 303, signed_in.text
    assert (await portal.get("/session")).status_code == 200


def browsers(stack: Stack) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    """Two cookie jars: the province portal's and the national portal's (same host, other ports)."""
    return (httpx.AsyncClient(base_url=stack.portal, timeout=30), httpx.AsyncClient(base_url=stack.url, timeout=30))


async def test_signing_out_at_the_portal_ends_the_province_portal_session(stack: Stack) -> None:
    portal, national = browsers(stack)
    async with portal, national:
        discovery = (await national.get("/.well-known/openid-configuration")).json()
        assert discovery["backchannel_logout_supported"] is True
        assert discovery["backchannel_logout_session_supported"] is True and "sid" in discovery["claims_supported"]
        await sign_in_at_the_province(stack, portal, national)
        [local] = (await portal.get("/api/sessions")).json()
        assert local["sub"] == SEED_CITIZEN_ID and local["sid"]
        assert (await national.get("/oauth2/logout")).status_code == 200
        assert await stack.deliver() == {"delivered": 1, "retry": 0, "abandoned": 0}
        assert (await portal.get("/session")).status_code == 401
        assert (await portal.get("/api/sessions")).json() == []
    [row] = await stack.logouts()
    assert (row.client_id, row.account_id, row.sid, row.reason) == (stack.client_id, SEED_CITIZEN_ID, local["sid"],
                                                                     "signed-out")  # fmt: skip
    assert row.delivered_at is not None and row.attempts == 1 and row.last_error is None
    assert await stack.deliver() == {"delivered": 0, "retry": 0, "abandoned": 0}  # told once
    await stack.age_logouts(days=stack.settings.backchannel_audit_days + 1)
    await stack.deliver()
    assert await stack.logouts() == []  # the audit is kept for backchannel_audit_days


async def admin_token(stack: Stack) -> str:
    """The seeded administrator signs in through the operators' console (password and TOTP)."""
    verifier, challenge = pkce()
    params = {"client_id": "demo-operator", "redirect_uri": DEMO_OPERATOR_REDIRECT, "response_type": "code",
              "scope": "openid identity:admin", "state": secrets.token_urlsafe(8), "code_challenge": challenge,
              "code_challenge_method": "S256"}  # fmt: skip
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as browser:
        page = await browser.get("/oauth2/authorize", params=params)
        form = read_form(page.text).fields | {"login": ADMIN["username"], "password": ADMIN["password"],
                                              "totp": pyotp.TOTP(ADMIN["totp"]).now()}  # fmt: skip
        back = await browser.post("/oauth2/authorize", data=form)
        assert back.status_code == 303, back.text
        code = query(back.headers["location"])["code"]
        tokens = await browser.post("/oauth2/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": DEMO_OPERATOR_REDIRECT,
            "client_id": "demo-operator", "code_verifier": verifier})  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    return str(tokens.json()["access_token"])


async def test_an_administrator_locking_the_account_ends_the_province_portal_session(stack: Stack) -> None:
    portal, national = browsers(stack)
    async with portal, national:
        await sign_in_at_the_province(stack, portal, national)
        headers = {"Authorization": f"Bearer {await admin_token(stack)}"}
        # The administrator registers relying parties' logout URIs with the client registry's API.
        client = {
            "client_id": "province-api",
            "name": "Cổng tỉnh",
            "kind": "confidential",
            "grant_types": ["authorization_code"],
            "redirect_uris": ["https://rp.test/cb"],
            "backchannel_logout_uri": "https://rp.test/logout",
            "backchannel_logout_session_required": True,
        }
        bad = await national.post(
            "/api/v1/identity/clients",
            headers=headers,
            json=client | {"backchannel_logout_uri": "http://rp.test/logout"},
        )
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json", bad.text
        made = await national.post("/api/v1/identity/clients", headers=headers, json=client)
        assert made.status_code == 201, made.text
        assert made.json()["backchannel_logout_uri"] == "https://rp.test/logout"
        assert made.json()["backchannel_logout_session_required"] is True
        locked = await national.post(f"/api/v1/identity/accounts/{SEED_CITIZEN_ID}/lock", headers=headers)
        assert locked.status_code == 204, locked.text
        # The identity worker's periodic jobs, as `python -m services.identity worker` runs them.
        db = identity_database(stack.db_url)
        worker = Worker(SERVICE, stack.settings, db, parts=["jobs"])
        running = asyncio.create_task(worker.run())
        try:
            deadline = time.monotonic() + 10
            while (await portal.get("/session")).status_code != 401 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            worker.stop()
            await running
            await db.dispose()
        assert (await portal.get("/session")).status_code == 401
    [row] = await stack.logouts()
    assert row.reason == "locked" and row.delivered_at is not None


async def test_an_administrator_deleting_the_account_ends_the_province_portal_session(stack: Stack) -> None:
    portal, national = browsers(stack)
    async with portal, national:
        await sign_in_at_the_province(stack, portal, national)
        headers = {"Authorization": f"Bearer {await admin_token(stack)}"}
        deleted = await national.delete(f"/api/v1/identity/accounts/{SEED_CITIZEN_ID}", headers=headers)
        assert deleted.status_code == 204, deleted.text
        assert await stack.deliver() == {"delivered": 1, "retry": 0, "abandoned": 0}
        assert (await portal.get("/session")).status_code == 401
    [row] = await stack.logouts()
    assert row.reason == "deleted" and row.account_id == SEED_CITIZEN_ID


@dataclass
class Catcher:
    """A relying party's logout endpoint that keeps what it is sent."""

    tokens: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/backchannel-logout")
        async def logout(request: Request) -> Response:
            self.tokens.append(str((await request.form())["logout_token"]))
            return Response(status_code=200, headers={"Cache-Control": "no-store"})

        return app


async def sign_in_as(stack: Stack, client_id: str, base: str) -> dict[str, Any]:
    """A code flow for ``client_id`` (its redirect URI is never visited); the token answer."""
    verifier, challenge = pkce()
    params = {"client_id": client_id, "redirect_uri": f"{base}/callback", "response_type": "code",
              "scope": "openid", "state": "s", "nonce": "n-1", "code_challenge": challenge,
              "code_challenge_method": "S256"}  # fmt: skip
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as browser:
        page = await browser.get("/oauth2/authorize", params=params)
        form = read_form(page.text).fields | {"login": CITIZEN_LOGIN, "password": CITIZEN_PASSWORD}
        back = await browser.post("/oauth2/authorize", data=form)
        code = query(back.headers["location"])["code"]
        tokens = await browser.post("/oauth2/token", auth=(client_id, SECRET), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": f"{base}/callback",
            "code_verifier": verifier})  # fmt: skip
        assert tokens.status_code == 200, tokens.text
        assert (await browser.get("/oauth2/logout")).status_code == 200  # and signs out at once
    return dict(tokens.json())


async def test_a_relying_party_that_is_down_is_tried_again_and_its_token_checks_out(stack: Stack) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    await register(stack, "province-down", base)
    tokens = await sign_in_as(stack, "province-down", base)
    sid = rfc_jwt.decode(tokens["id_token"], KeySet.import_key_set(await _jwks(stack))).claims["sid"]

    one_second = stack.settings.model_copy(update={"backchannel_retry_base_seconds": 1.0})
    assert await stack.deliver(one_second) == {"delivered": 0, "retry": 1, "abandoned": 0}  # nothing listens there
    [row] = await stack.logouts()
    assert row.attempts == 1 and row.delivered_at is None and "Connect" in row.last_error
    assert row.next_attempt_at - row.last_attempt_at == timedelta(seconds=1)
    await stack.age_logouts(days=stack.settings.backchannel_audit_days + 1)
    assert await stack.deliver() == {"delivered": 0, "retry": 0, "abandoned": 0}  # not yet due
    assert len(await stack.logouts()) == 1  # and one still to deliver is kept, however old
    await stack.age_logouts(days=-(stack.settings.backchannel_audit_days + 1))
    catcher = Catcher()
    with serve(catcher.app(), port=port):
        await asyncio.sleep(max(0.0, (row.next_attempt_at - datetime.now(UTC)).total_seconds()) + 0.05)
        assert await stack.deliver() == {"delivered": 1, "retry": 0, "abandoned": 0}
    [row] = await stack.logouts()
    assert row.attempts == 2 and row.delivered_at is not None

    [token] = catcher.tokens
    verified = rfc_jwt.decode(token, KeySet.import_key_set(await _jwks(stack)), algorithms=["RS256"])
    assert verified.header["typ"] == "logout+jwt" and verified.header["alg"] == "RS256"
    rfc_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": stack.settings.oidc_issuer},
        aud={"essential": True, "value": "province-down"},
        iat={"essential": True}, exp={"essential": True}, jti={"essential": True},
    ).validate(verified.claims)  # fmt: skip
    claims = verified.claims
    assert claims["sub"] == SEED_CITIZEN_ID and claims["sid"] == sid
    assert claims["events"] == {EVENT: {}} and "nonce" not in claims
    assert 0 < claims["exp"] - claims["iat"] <= 120 and abs(claims["iat"] - time.time()) < 60


async def _jwks(stack: Stack) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        return dict((await client.get("/oauth2/jwks")).json())


async def _signed(stack: Stack, claims: dict[str, Any], typ: str = "logout+jwt") -> str:
    """A token signed with the issuer's own key (to see what the province portal refuses)."""
    db = identity_database(stack.db_url)
    try:
        async with db.transaction() as uow:
            sign = await signer(uow, stack.settings, datetime.now(UTC))
    finally:
        await db.dispose()
    return sign_pem(claims, sign.private_pem, sign.kid, typ=typ)


async def test_the_province_portal_refuses_logout_tokens_that_are_not_right(stack: Stack) -> None:
    portal, national = browsers(stack)
    async with portal, national:
        await sign_in_at_the_province(stack, portal, national)
        [local] = (await portal.get("/api/sessions")).json()
        now = int(time.time())
        good = {"iss": stack.settings.oidc_issuer, "aud": stack.client_id, "iat": now, "exp": now + 120,
                "jti": secrets.token_hex(8), "sub": SEED_CITIZEN_ID, "sid": local["sid"],
                "events": {EVENT: {}}}  # fmt: skip
        wrong = {
            "an ID token's type": await _signed(stack, good, typ="JWT"),
            "a nonce": await _signed(stack, good | {"nonce": "n"}),
            "no event": await _signed(stack, {k: v for k, v in good.items() if k != "events"}),
            "another audience": await _signed(stack, good | {"aud": "demo-web"}),
            "another issuer": await _signed(stack, good | {"iss": "https://elsewhere.example"}),
            "no sid": await _signed(stack, {k: v for k, v in good.items() if k != "sid"}),
            "an old iat": await _signed(stack, good | {"iat": now - 3600}),
            "no exp": await _signed(stack, {k: v for k, v in good.items() if k != "exp"}),
            "an exp past": await _signed(stack, good | {"exp": now - 120}),
        }
        for why, token in wrong.items():
            answer = await portal.post("/backchannel-logout", data={"logout_token": token})
            assert answer.status_code == 400, why
            assert answer.json()["error"] == "invalid_request" and answer.headers["cache-control"] == "no-store"
        assert (await portal.post("/backchannel-logout", data={"logout_token": "x.y.z"})).status_code == 400
        assert (await portal.post("/backchannel-logout", data={})).status_code == 400
        assert (await portal.get("/session")).status_code == 200  # none of them ended the session

        token = await _signed(stack, good)
        assert (await portal.post("/backchannel-logout", data={"logout_token": token})).status_code == 200
        assert (await portal.get("/session")).status_code == 401
        replay = await portal.post("/backchannel-logout", data={"logout_token": token})
        assert replay.status_code == 400 and "used already" in replay.json()["error_description"]
