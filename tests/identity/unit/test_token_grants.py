"""Clients and tokens on the fake unit: client authentication, the client-credentials grant,
code redemption once (a replay revokes what the first redemption issued), refresh rotation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from contracts.events.identity_oidc import ClientCreated, SigningKeyRotated
from services.identity.adapters.oauth import digest
from services.identity.domain.assurance import AccountKind, Assurance, SignedIn
from services.identity.domain.oauth import ClientKind, OAuthError, pkce_s256
from services.identity.service import authorize, clients, keys, tokens
from tests.identity.unit.conftest import add_citizen, make_settings

SETTINGS = make_settings(oidc_issuer="http://issuer.test")
VERIFIER = "v" * 43


@pytest.fixture
def now() -> datetime:
    """The test's own time: the JOSE library checks expiry against the clock, so a time taken when
    the module was imported would have run out in a long session."""
    return datetime.now(UTC)


async def provider(uow, now):  # type: ignore[no-untyped-def]
    await keys.ensure_signing_key(uow, SETTINGS, now - timedelta(minutes=1))
    client, secret = await clients.create_client(
        uow, client_id="province", name="Province", kind=ClientKind.CONFIDENTIAL,
        grant_types=["client_credentials", "authorization_code", "refresh_token"], allowed_scopes=["sync:push"],
        redirect_uris=["https://rp.test/cb"], agencies=["000.00.01.H22"],
    )  # fmt: skip
    assert secret is not None
    return client, secret


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def test_a_client_authenticates_and_gets_an_access_token(uow, now: datetime) -> None:
    _, secret = await provider(uow, now)
    await uow.commit()
    assert uow.types() == [SigningKeyRotated.TYPE, ClientCreated.TYPE]

    client = await clients.authenticate_client(uow, SETTINGS, {}, basic("province", secret), now)
    issued = await tokens.client_credentials(uow, SETTINGS, client, None, now)
    assert (issued.token_type, issued.scope, issued.expires_in) == ("Bearer", "sync:push", 600)
    assert issued.id_token is None and issued.refresh_token is None
    claims = await tokens.verify_access_token(uow, SETTINGS, issued.access_token, now)
    assert (claims["sub"], claims["aud"], claims["agencies"]) == ("province", ["sync"], ["000.00.01.H22"])
    assert claims["jti"] in uow.tokens.access

    with pytest.raises(OAuthError) as refused:
        await clients.authenticate_client(uow, SETTINGS, {}, basic("province", "wrong"), now)
    assert refused.value.error == "invalid_client"
    with pytest.raises(OAuthError) as scope:
        await tokens.client_credentials(uow, SETTINGS, client, "dossier:read", now)
    assert scope.value.error == "invalid_scope"

    await tokens.revoke(uow, SETTINGS, client, issued.access_token, now)
    with pytest.raises(OAuthError):
        await tokens.verify_access_token(uow, SETTINGS, issued.access_token, now)


async def test_a_code_is_redeemed_once_and_a_replay_revokes_its_tokens(uow, now: datetime) -> None:
    client, _ = await provider(uow, now)
    await add_citizen(uow, SETTINGS)
    request = await authorize.parse_request(uow, {
        "client_id": "province", "redirect_uri": "https://rp.test/cb", "response_type": "code",
        "scope": "openid profile", "code_challenge": pkce_s256(VERIFIER), "code_challenge_method": "S256",
        "nonce": "n-1",
    })  # fmt: skip
    signed_in = SignedIn("citizen-1", AccountKind.CITIZEN, Assurance.PASSWORD, ("pwd",), now)
    cookie = await authorize.start_session(uow, SETTINGS, signed_in, now)
    session = await authorize.current_session(uow, cookie, now)
    assert session is not None and session.account_id == "citizen-1"
    code = await authorize.issue_code(uow, SETTINGS, request, session, now)

    form = {"code": code, "redirect_uri": "https://rp.test/cb", "code_verifier": VERIFIER}
    issued = await tokens.exchange_code(uow, SETTINGS, client, form, now)
    assert issued.id_token and issued.refresh_token and issued.scope == "openid profile"
    with pytest.raises(OAuthError) as replay:
        await tokens.exchange_code(uow, SETTINGS, client, form, now)
    assert replay.value.error == "invalid_grant"
    # The replay revoked the refresh family and the access token of the first redemption.
    assert uow.tokens.refresh_tokens[digest(issued.refresh_token)].revoked_at == now
    with pytest.raises(OAuthError):
        await tokens.verify_access_token(uow, SETTINGS, issued.access_token, now)


async def test_a_refresh_token_rotates_and_its_reuse_revokes_the_family(uow, now: datetime) -> None:
    client, _ = await provider(uow, now)
    await add_citizen(uow, SETTINGS)
    request = await authorize.parse_request(uow, {
        "client_id": "province", "redirect_uri": "https://rp.test/cb", "response_type": "code", "scope": "openid",
        "code_challenge": pkce_s256(VERIFIER), "code_challenge_method": "S256",
    })  # fmt: skip
    session = authorize.Session("citizen-1", Assurance.PASSWORD.value, ("pwd",), now)
    code = await authorize.issue_code(uow, SETTINGS, request, session, now)
    first = await tokens.exchange_code(
        uow, SETTINGS, client, {"code": code, "redirect_uri": "https://rp.test/cb", "code_verifier": VERIFIER}, now
    )
    assert first.refresh_token is not None
    second = await tokens.refresh(uow, SETTINGS, client, {"refresh_token": first.refresh_token}, now)
    assert second.refresh_token and second.refresh_token != first.refresh_token
    later = now + timedelta(minutes=1)  # past the grace window
    with pytest.raises(OAuthError):
        await tokens.refresh(uow, SETTINGS, client, {"refresh_token": first.refresh_token}, later)
    assert second.refresh_token is not None
    assert uow.tokens.refresh_tokens[digest(second.refresh_token)].revoked_at == later
