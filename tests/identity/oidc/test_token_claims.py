"""Tokens must carry ``aud``, ``iss`` and ``exp`` wherever they are read: client assertions at
the token endpoint (RFC 7523 §3), this provider's access tokens at userinfo and introspection,
and at the services (the kit's verifier). Access tokens are typed ``at+jwt`` (RFC 9068), so an
ID token is never taken for one. Forged assertions answer 401 ``invalid_client``, never 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from jose import jwk
from jose import jwt as jose_jwt

from services.identity.service.clients import ASSERTION_TYPE
from services.identity.service.keys import signer
from services.kit import jose
from services.kit.auth import JWKSCache, TokenVerifier
from services.kit.errors import Unauthorized
from tests.identity.oidc.conftest import Provider, private_key_jwt_client
from tests.identity.oidc.test_tokens import signed_in_tokens
from tests.support.identity import identity_database

pytestmark = pytest.mark.integration


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _assertion_claims(provider: Provider, client_id: str) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": client_id, "sub": client_id, "aud": provider.settings.oidc_issuer + "/oauth2/token",
            "jti": uuid.uuid4().hex, "iat": now, "exp": now + 60}  # fmt: skip


async def _token_with(provider: Provider, assertion: str) -> Any:
    data = {"grant_type": "client_credentials", "client_assertion": assertion, "client_assertion_type": ASSERTION_TYPE}
    async with provider.client() as client:
        return await client.post("/oauth2/token", data=data)


async def test_a_client_assertion_without_aud_iss_or_exp_is_invalid_client(provider: Provider) -> None:
    client_id, pem, _ = await private_key_jwt_client(provider)
    sign = lambda body: jose_jwt.encode(body, pem.decode(), algorithm="RS256", headers={"kid": "m1"})  # noqa: E731
    good = await _token_with(provider, sign(_assertion_claims(provider, client_id)))
    assert good.status_code == 200, good.text
    for missing in ("aud", "iss", "exp"):
        claims = {k: v for k, v in _assertion_claims(provider, client_id).items() if k != missing}
        answer = await _token_with(provider, sign(claims))
        assert answer.status_code == 401, (missing, answer.text)
        assert answer.json()["error"] == "invalid_client", missing
        assert "access_token" not in answer.json()


async def test_an_unsigned_or_algorithm_confused_assertion_is_invalid_client_not_500(provider: Provider) -> None:
    client_id, _, public = await private_key_jwt_client(provider)
    body = _b64(json.dumps(_assertion_claims(provider, client_id)).encode())
    unsigned = f"{_b64(json.dumps({'alg': 'none', 'kid': 'm1'}).encode())}.{body}."
    public_pem = jwk.construct(public, algorithm="RS256").to_pem()
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': 'm1'}).encode())}.{body}"
    confused = f"{signing_input}.{_b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"
    for forged in (unsigned, confused, "not-even-a-token", f"{_b64(b'[1]')}.{body}.x"):
        answer = await _token_with(provider, forged)
        assert answer.status_code == 401, (forged[:40], answer.status_code, answer.text[:200])
        assert answer.json()["error"] == "invalid_client"


async def _sign_with_provider_key(provider: Provider, claims: dict[str, Any], typ: str = jose.ACCESS_TOKEN_TYPE) -> str:
    """A token signed with the provider's own current signing key (as a leaked key or a bug
    would sign it): only the claims decide whether it is accepted."""
    db = identity_database(provider.db_url)
    try:
        async with db.transaction() as uow:
            key = await signer(uow, provider.settings, datetime.now(UTC))
    finally:
        await db.dispose()
    return jose.sign_pem(claims, key.private_pem, key.kid, typ=typ)


def _access_claims(provider: Provider, sub: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    body = {"iss": provider.settings.oidc_issuer, "aud": ["dossier", "identity"], "sub": sub,
            "client_id": "demo-web", "scope": "openid dossier:read", "iat": now, "exp": now + 300,
            "jti": uuid.uuid4().hex, **changes}  # fmt: skip
    return {k: v for k, v in body.items() if v is not None}


async def test_tokens_signed_with_the_real_key_but_without_aud_iss_or_exp_are_refused(provider: Provider) -> None:
    async with provider.client() as browser:
        sub = jose_jwt.get_unverified_claims((await signed_in_tokens(browser, scope="openid"))["access_token"])["sub"]
        jwks = JWKSCache(f"{provider.url}/oauth2/jwks")
        dossier = TokenVerifier(jwks, issuer=provider.settings.oidc_issuer, audience="dossier")
        complete = await _sign_with_provider_key(provider, _access_claims(provider, sub))
        assert (await dossier.verify(complete)).subject == sub
        accepted = await browser.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {complete}"})
        assert accepted.status_code == 200, accepted.text
        for missing in ("aud", "iss", "exp"):
            token = await _sign_with_provider_key(provider, _access_claims(provider, sub, **{missing: None}))
            with pytest.raises(Unauthorized):
                await dossier.verify(token)
            userinfo = await browser.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"})
            assert userinfo.status_code == 401, (missing, userinfo.text)
            introspected = await browser.post(
                "/oauth2/introspect", data={"token": token}, auth=("demo-province", "demo-province-development-secret")
            )
            assert introspected.json() == {"active": False}, missing


async def test_an_id_token_is_never_an_access_token(provider: Provider) -> None:
    async with provider.client() as browser:
        tokens = await signed_in_tokens(browser, scope="openid dossier:read")
        assert jose_jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"
        assert jose_jwt.get_unverified_header(tokens["id_token"])["typ"] == "JWT"
        as_bearer = await browser.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['id_token']}"})
        # An ID token whose audience names a service, signed by the provider: still not an access token.
        claims = {**_access_claims(provider, jose_jwt.get_unverified_claims(tokens["id_token"])["sub"])}
        id_typed = await _sign_with_provider_key(provider, claims, typ=jose.ID_TOKEN_TYPE)
    assert as_bearer.status_code == 401
    jwks = JWKSCache(f"{provider.url}/oauth2/jwks")
    issuer = provider.settings.oidc_issuer
    with pytest.raises(Unauthorized, match="type"):
        await TokenVerifier(jwks, issuer=issuer, audience="demo-web").verify(tokens["id_token"])
    with pytest.raises(Unauthorized, match="type"):
        await TokenVerifier(jwks, issuer=issuer, audience="dossier").verify(id_typed)
    assert (await TokenVerifier(jwks, issuer=issuer, audience="dossier").verify(tokens["access_token"])).subject


async def test_an_access_token_is_not_an_id_token_hint_at_logout(provider: Provider) -> None:
    async with provider.client() as browser:
        tokens = await signed_in_tokens(browser)
        wrong = await browser.get("/oauth2/logout", params={"id_token_hint": tokens["access_token"]})
        other_client = await browser.get(
            "/oauth2/logout", params={"id_token_hint": tokens["id_token"], "client_id": "demo-province-portal"}
        )
        right = await browser.get("/oauth2/logout", params={"id_token_hint": tokens["id_token"]})
    # A well-formed hint that is not an ID token issued to the client names nothing the provider
    # knows: its page, 404, and no redirect.
    assert wrong.status_code == 404 and "id_token_hint" in wrong.text and "location" not in wrong.headers
    assert other_client.status_code == 404
    assert right.status_code == 200
