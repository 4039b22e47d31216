"""Enterprise mandates on real HTTP and PostgreSQL: the legal representative grants and revokes,
a mandated person signs in acting for the enterprise, and a revocation ends what was issued."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from jose import jwt
from sqlalchemy import select

from contracts.events.identity_mandates import MandateGranted, MandateRevoked
from deploy.local.components import free_port
from services.identity.app import create_app
from services.identity.domain.accounts import Account, AccountStatus
from services.identity.domain.assurance import AccountKind
from services.identity.service import tokens
from services.identity.service.credentials import hash_password
from services.kit.tables import outbox
from tests.identity.oidc.conftest import (
    REDIRECT,
    Provider,
    authorize_params,
    pkce,
    provider_settings,
    query,
    submit_sign_in,
)
from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD, ENTERPRISE_LOGIN
from tests.support.identity import identity_database, seed_identity
from tests.support.servers import serve

pytestmark = pytest.mark.integration

STAFF_ID, STAFF_PID, STAFF_PASSWORD = "mandated-staff", "001085000123", "Staff-Demo-2025-x"
OUTSIDER_ID, OUTSIDER_PID = "outsider", "001085000124"
API = "/api/v1/identity"


async def add_citizens(provider: Provider) -> None:
    db = identity_database(provider.db_url)
    try:
        async with db.transaction() as uow:
            for account_id, pid in ((STAFF_ID, STAFF_PID), (OUTSIDER_ID, OUTSIDER_PID)):
                await uow.accounts.add(
                    Account(
                        id=account_id,
                        kind=AccountKind.CITIZEN,
                        status=AccountStatus.ACTIVE,
                        name="Nhân viên",
                        password_hash=await hash_password(provider.settings, STAFF_PASSWORD),
                        personal_id=pid,
                    )
                )
    finally:
        await db.dispose()


async def sign_in(
    browser: httpx.AsyncClient, login: str, password: str, scope: str = "openid", **extra: str
) -> httpx.Response:
    """The authorization code flow; the token endpoint's answer (or the refused redirect)."""
    verifier, challenge = pkce()
    answer = await submit_sign_in(browser, authorize_params(challenge, scope=scope, prompt="login", **extra), login,
                                  password)  # fmt: skip
    assert answer.status_code == 303, answer.text
    got = query(answer.headers["location"])
    if "code" not in got:
        return answer
    return await browser.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": got["code"], "redirect_uri": REDIRECT,
              "client_id": "demo-web", "code_verifier": verifier},
    )  # fmt: skip


def bearer(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
def provider(identity_db_url, infra) -> Iterator[Provider]:  # type: ignore[no-untyped-def]
    """The provider whose API routes verify its own tokens (its JWKS on the same port)."""
    port = free_port()
    settings = provider_settings(identity_db_url, infra.bootstrap, port,
                                 oidc_jwks_url=f"http://127.0.0.1:{port}/oauth2/jwks")  # fmt: skip
    seed_identity(identity_db_url, settings)
    with serve(create_app(settings), port=port) as url:
        yield Provider(url, settings, identity_db_url)


async def test_a_mandate_is_granted_used_and_revoked_and_its_tokens_stop(provider: Provider) -> None:
    await add_citizens(provider)
    async with provider.client() as client:
        legal = bearer(await sign_in(client, CITIZEN_LOGIN, CITIZEN_PASSWORD))
        staff = bearer(await sign_in(client, STAFF_PID, STAFF_PASSWORD))
        mandates = f"{API}/enterprises/{ENTERPRISE_LOGIN}/mandates"

        # Nobody but the legal representative (or a holder of manage) sees or changes them.
        assert (await client.get(mandates, headers=staff)).status_code == 404
        refused = await client.post(mandates, headers=staff, json={"representative_personal_id": STAFF_PID,
                                                                   "roles": ["manage"]})  # fmt: skip
        assert refused.status_code == 404 and refused.headers["content-type"] == "application/problem+json"
        unknown = await client.get(f"{API}/enterprises/0100109106/mandates", headers=legal)
        assert unknown.status_code == 404

        granted = await client.post(mandates, headers=legal, json={"representative_personal_id": STAFF_PID,
                                                                   "roles": ["read", "submit", "read"]})  # fmt: skip
        assert granted.status_code == 201, granted.text
        mandate = granted.json()
        assert mandate["roles"] == ["read", "submit"] and mandate["representative_id"] == STAFF_ID
        again = await client.post(mandates, headers=legal, json={"representative_personal_id": STAFF_PID,
                                                                 "roles": ["pay"]})  # fmt: skip
        assert again.status_code == 409
        bad = await client.post(mandates, headers=legal, json={"representative_personal_id": STAFF_PID,
                                                               "roles": ["sign"], "extra": 1})  # fmt: skip
        assert bad.status_code == 422
        held = (await client.get(f"{API}/mandates", headers=staff)).json()["mandates"]
        assert [h["enterprise_tax_code"] for h in held] == [ENTERPRISE_LOGIN]
        # A mandate without manage still shows nothing of the enterprise's mandates.
        assert (await client.get(mandates, headers=staff)).status_code == 404

        # Acting for the enterprise: the person is sub, the enterprise the entity claim.
        acting = await sign_in(client, STAFF_PID, STAFF_PASSWORD,
                               scope="openid dossier:submit payment:pay feedback:send",
                               acting_for=ENTERPRISE_LOGIN)  # fmt: skip
        assert acting.status_code == 200, acting.text
        access = jwt.get_unverified_claims(acting.json()["access_token"])
        assert access["sub"] == STAFF_ID
        assert access["scope"] == "openid dossier:submit"  # no pay role; nothing the roles do not name
        assert access["entity"] == {"account_id": mandate["enterprise_id"], "tax_code": ENTERPRISE_LOGIN,
                                    "mandate_id": mandate["id"], "roles": ["read", "submit"]}  # fmt: skip
        assert jwt.get_unverified_claims(acting.json()["id_token"])["entity"]["mandate_id"] == mandate["id"]
        # Without a mandate, or for another enterprise: refused back to the client.
        outsider = await sign_in(client, OUTSIDER_PID, STAFF_PASSWORD, acting_for=ENTERPRISE_LOGIN)
        assert query(outsider.headers["location"])["error"] == "access_denied"
        malformed = await client.get("/oauth2/authorize", params=authorize_params(pkce()[1], acting_for="12"))
        assert malformed.status_code == 303 and query(malformed.headers["location"])["error"] == "invalid_request"

        # A refresh keeps the entity while the mandate lives.
        refreshed = await client.post(
            "/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": acting.json()["refresh_token"],
                "client_id": "demo-web",
            },
        )
        assert refreshed.status_code == 200, refreshed.text
        assert jwt.get_unverified_claims(refreshed.json()["access_token"])["entity"]["mandate_id"] == mandate["id"]

        revoked = await client.delete(f"{mandates}/{mandate['id']}", headers=legal)
        assert revoked.status_code == 204, revoked.text
        assert (await client.delete(f"{mandates}/{mandate['id']}", headers=legal)).status_code == 409
        listed = (await client.get(mandates, headers=legal)).json()["mandates"]
        assert [(m["id"], m["active"]) for m in listed] == [(mandate["id"], False)]
        assert listed[0]["revoked_by"] == listed[0]["granted_by"]

        after = await client.post(
            "/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refreshed.json()["refresh_token"],
                "client_id": "demo-web",
            },
        )
        assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
        userinfo = await client.get(
            "/oauth2/userinfo", headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        )
        assert userinfo.status_code == 401
        # The mandate is gone: a new sign-in acting for the enterprise is refused.
        denied = await sign_in(client, STAFF_PID, STAFF_PASSWORD, acting_for=ENTERPRISE_LOGIN)
        assert query(denied.headers["location"])["error"] == "access_denied"

    db = identity_database(provider.db_url)
    try:
        async with db.transaction() as uow:
            caller = await uow.clients.get("demo-web")
            assert caller is not None
            answer = await tokens.introspect(uow, provider.settings, caller, acting.json()["access_token"],
                                             datetime.now(UTC))  # fmt: skip
            assert answer == {"active": False}
            rows = await uow.connection.execute(select(outbox.c.type).where(outbox.c.type.like("identity.mandate.%")))
            types = [r.type for r in rows]
    finally:
        await db.dispose()
    assert types == [MandateGranted.TYPE, MandateRevoked.TYPE]
