"""Refresh rotation, client credentials and client authentication, userinfo, introspection,
revocation, logout — and the kit's verifier accepting this provider's tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk
from jose import jwt as jose_jwt

from services.identity.service.clients import DEMO_PROVINCE_SECRET
from services.kit.auth import JWKSCache, TokenVerifier
from services.kit.errors import Unauthorized
from tests.identity.oidc.conftest import (
    REDIRECT,
    Provider,
    authorize_params,
    code_for,
    pkce,
    private_key_jwt_client,
    query,
)
from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD

pytestmark = pytest.mark.integration

PROVINCE = ("demo-province", DEMO_PROVINCE_SECRET)


async def signed_in_tokens(browser: httpx.AsyncClient, scope: str = "openid profile phone") -> dict:
    verifier, challenge = pkce()
    params = authorize_params(challenge, scope=scope, prompt="login")  # the form even when a session exists
    code = await code_for(browser, params, CITIZEN_LOGIN, CITIZEN_PASSWORD)
    answer = await browser.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": "demo-web",
              "code_verifier": verifier},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()


async def refresh(browser: httpx.AsyncClient, token: str) -> httpx.Response:
    return await browser.post(
        "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "demo-web"}
    )


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(provider: Provider) -> None:
    async with provider.client() as browser:
        first = await signed_in_tokens(browser)
        second = (await refresh(browser, first["refresh_token"])).json()
        assert second["refresh_token"] != first["refresh_token"]
        third = await refresh(browser, second["refresh_token"])
        assert third.status_code == 200
        await asyncio.sleep(provider.settings.refresh_grace_seconds + 0.5)
        replay = await refresh(browser, first["refresh_token"])
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        # The whole family is gone, including the newest token.
        after = await refresh(browser, third.json()["refresh_token"])
    assert after.status_code == 400


async def test_two_concurrent_refreshes_within_the_grace_window_both_succeed(provider: Provider) -> None:
    async with provider.client() as browser:
        first = await signed_in_tokens(browser)
        a, b = await asyncio.gather(refresh(browser, first["refresh_token"]), refresh(browser, first["refresh_token"]))
    assert a.status_code == 200 and b.status_code == 200
    assert a.json()["refresh_token"] != b.json()["refresh_token"]


async def test_userinfo_answers_claims_by_scope_on_get_and_post(provider: Provider) -> None:
    async with provider.client() as browser:
        tokens = await signed_in_tokens(browser, scope="openid profile")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        got = await browser.get("/oauth2/userinfo", headers=bearer)
        posted = await browser.post("/oauth2/userinfo", data={"access_token": tokens["access_token"]})
        narrow = await signed_in_tokens(browser, scope="openid")
        minimal = await browser.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {narrow['access_token']}"})
        refused = await browser.get("/oauth2/userinfo", headers={"Authorization": "Bearer not-a-token"})
    assert got.status_code == 200 and posted.json() == got.json()
    assert got.json()["name"] and got.json()["sub"]
    assert "name" not in minimal.json() and "phone_number" not in minimal.json()
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")


async def test_client_credentials_for_a_province_carry_scope_audience_and_agency(provider: Provider) -> None:
    async with provider.client() as client:
        basic = await client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=PROVINCE)
        wrong = await client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=(PROVINCE[0], "x"))
        other_method = await client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": PROVINCE[0], "client_secret": PROVINCE[1]},
        )
        too_much = await client.post(
            "/oauth2/token", data={"grant_type": "client_credentials", "scope": "dossier:submit"}, auth=PROVINCE
        )
    assert basic.status_code == 200
    assert other_method.status_code == 401  # registered for client_secret_basic: post is refused
    claims = jose_jwt.get_unverified_claims(basic.json()["access_token"])
    assert claims["aud"] == ["sync"] and claims["scope"] == "sync:push" and claims["agencies"] == ["000.00.01.H22"]
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert too_much.status_code == 400 and too_much.json()["error"] == "invalid_scope"


async def test_other_services_verify_this_providers_tokens_with_the_kit(provider: Provider) -> None:
    async with provider.client() as client:
        token = (await client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=PROVINCE)).json()
    jwks = JWKSCache(f"{provider.url}/oauth2/jwks")
    sync = TokenVerifier(jwks, issuer=provider.settings.oidc_issuer, audience="sync")
    principal = await sync.verify(token["access_token"])
    assert principal.subject == "demo-province" and principal.has("sync:push")
    dossier = TokenVerifier(jwks, issuer=provider.settings.oidc_issuer, audience="dossier")
    with pytest.raises(Unauthorized):
        await dossier.verify(token["access_token"])


def _forge(provider: Provider, **claims) -> dict:  # type: ignore[no-untyped-def]
    now = int(time.time())
    return {"iss": provider.settings.oidc_issuer, "aud": "sync", "sub": "x", "scope": "sync:push",
            "client_id": "x", "iat": now, "exp": now + 300, **claims}  # fmt: skip


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_the_kit_refuses_forged_and_foreign_tokens(provider: Provider) -> None:
    async with provider.client() as client:
        good = (await client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=PROVINCE)).json()
        kid = (await client.get("/oauth2/jwks")).json()["keys"][0]["kid"]
    verifier = TokenVerifier(
        JWKSCache(f"{provider.url}/oauth2/jwks"), issuer=provider.settings.oidc_issuer, audience="sync"
    )
    import json

    header_none = _b64(json.dumps({"alg": "none", "kid": kid}).encode())
    body = _b64(json.dumps(_forge(provider)).encode())
    alg_none = f"{header_none}.{body}."
    # HMAC "signed" with the public key text: the classic algorithm-confusion attack.
    public_pem = jwk.construct((await _jwks(provider))[0], algorithm="RS256").to_pem().decode()
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}.{body}"
    mac = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{_b64(mac)}"
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    unknown_kid = jose_jwt.encode(_forge(provider), other_key.decode(), algorithm="RS256", headers={"kid": "nope"})
    tampered = good["access_token"][:-4] + ("AAAA" if not good["access_token"].endswith("AAAA") else "BBBB")
    for forged in (alg_none, confused, unknown_kid, tampered):
        with pytest.raises(Unauthorized):
            await verifier.verify(forged)
    wrong_issuer = TokenVerifier(JWKSCache(f"{provider.url}/oauth2/jwks"), issuer="http://elsewhere", audience="sync")
    with pytest.raises(Unauthorized, match="claims"):
        await wrong_issuer.verify(good["access_token"])


async def _jwks(provider: Provider) -> list[dict]:
    async with provider.client() as client:
        return (await client.get("/oauth2/jwks")).json()["keys"]


async def test_introspection_answers_only_for_tokens_of_or_for_the_caller(provider: Provider) -> None:
    async with provider.client() as client:
        province_token = (
            await client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=PROVINCE)
        ).json()
        own = await client.post("/oauth2/introspect", data={"token": province_token["access_token"]}, auth=PROVINCE)
        user = await signed_in_tokens(client)
        foreign = await client.post("/oauth2/introspect", data={"token": user["access_token"]}, auth=PROVINCE)
        public = await client.post("/oauth2/introspect", data={"token": user["access_token"], "client_id": "demo-web"})
        garbage = await client.post("/oauth2/introspect", data={"token": "garbage"}, auth=PROVINCE)
    assert own.json()["active"] is True and own.json()["client_id"] == "demo-province"
    assert foreign.json() == {"active": False}
    assert public.status_code == 401
    assert garbage.json() == {"active": False}


async def test_revoking_a_refresh_token_ends_its_family_and_revocation_is_quiet_for_unknown_tokens(
    provider: Provider,
) -> None:
    async with provider.client() as browser:
        tokens = await signed_in_tokens(browser)
        revoked = await browser.post("/oauth2/revoke", data={"token": tokens["refresh_token"], "client_id": "demo-web"})
        unknown = await browser.post("/oauth2/revoke", data={"token": "unknown", "client_id": "demo-web"})
        after = await refresh(browser, tokens["refresh_token"])
        userinfo = await browser.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert revoked.status_code == 200 and unknown.status_code == 200
    assert after.status_code == 400
    assert userinfo.status_code == 401


async def test_logout_ends_the_session_and_redirects_only_to_a_registered_uri(provider: Provider) -> None:
    async with provider.client() as browser:
        tokens = await signed_in_tokens(browser)
        bad = await browser.get(
            "/oauth2/logout",
            params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"},
        )
        assert bad.status_code == 400 and "location" not in bad.headers
        assert "post_logout_redirect_uri is not registered" in bad.text
        good = await browser.get(
            "/oauth2/logout",
            params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:8765/",
                    "state": "s1"},
        )  # fmt: skip
        assert good.status_code == 303, good.text
        assert (
            good.headers["location"].startswith("http://127.0.0.1:8765/?")
            and query(good.headers["location"])["state"] == "s1"
        )
        _, challenge = pkce()
        silent = await browser.get("/oauth2/authorize", params=authorize_params(challenge, prompt="none"))
    assert query(silent.headers["location"])["error"] == "login_required"


async def test_private_key_jwt_client_authentication_refuses_a_replayed_assertion(provider: Provider) -> None:
    client_id, pem, _ = await private_key_jwt_client(provider, ("sync:push",))
    now = int(time.time())
    assertion = jose_jwt.encode(
        {"iss": client_id, "sub": client_id, "aud": provider.settings.oidc_issuer + "/oauth2/token",
         "jti": uuid.uuid4().hex, "iat": now, "exp": now + 60},
        pem.decode(), algorithm="RS256", headers={"kid": "m1"},
    )  # fmt: skip
    data = {"grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}  # fmt: skip
    async with provider.client() as client:
        first = await client.post("/oauth2/token", data=data)
        replay = await client.post("/oauth2/token", data=data)
    assert first.status_code == 200, first.text
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"


async def test_client_secret_post_works_for_a_client_registered_for_it(provider: Provider) -> None:
    from services.identity.domain.oauth import ClientKind
    from services.identity.service.clients import create_client
    from tests.support.identity import identity_database

    db = identity_database(provider.db_url)
    try:
        async with db.transaction() as uow:
            _, secret = await create_client(
                uow, client_id="portal-hcm", name="HCMC portal", kind=ClientKind.CONFIDENTIAL,
                grant_types=["client_credentials"], allowed_scopes=["sync:push"], auth_method="client_secret_post",
            )  # fmt: skip
    finally:
        await db.dispose()
    async with provider.client() as client:
        post = await client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": "portal-hcm", "client_secret": secret},
        )
        basic = await client.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, auth=("portal-hcm", secret)
        )
    assert post.status_code == 200
    assert basic.status_code == 401


async def test_a_citizens_token_is_accepted_by_the_services_its_scopes_name_and_no_other(provider: Provider) -> None:
    async with provider.client() as browser:
        tokens = await signed_in_tokens(browser, scope="openid dossier:submit payment:pay")
    jwks = JWKSCache(f"{provider.url}/oauth2/jwks")
    issuer = provider.settings.oidc_issuer
    for service, scope in (("dossier", "dossier:submit"), ("payment", "payment:pay")):
        principal = await TokenVerifier(jwks, issuer=issuer, audience=service).verify(tokens["access_token"])
        assert principal.has(scope) and principal.acr == "urn:portal:acr:password"
    for service in ("catalogue", "sync"):
        with pytest.raises(Unauthorized):
            await TokenVerifier(jwks, issuer=issuer, audience=service).verify(tokens["access_token"])


async def test_a_token_for_the_dossier_service_carries_the_applicants_pseudonym_never_their_number(
    provider: Provider,
) -> None:
    import json

    from services.kit.pseudonyms import applicant_key

    async with provider.client() as browser:
        for_dossiers = await signed_in_tokens(browser, scope="openid dossier:read")
        for_payments = await signed_in_tokens(browser, scope="openid payment:pay")
        refreshed = await refresh(browser, for_dossiers["refresh_token"])  # one statement finds the number too
        narrowing = {"grant_type": "refresh_token", "client_id": "demo-web", "scope": "dossier:read",
                     "refresh_token": refreshed.json()["refresh_token"]}  # fmt: skip
        narrowed = await browser.post("/oauth2/token", data=narrowing)
    claims = jose_jwt.get_unverified_claims(for_dossiers["access_token"])
    secret = provider.settings.applicant_key_secret.get_secret_value()
    assert claims["applicant_key"] == applicant_key(secret, "001099012345")
    for later in (refreshed, narrowed):
        assert later.status_code == 200, later.text
        assert jose_jwt.get_unverified_claims(later.json()["access_token"])["applicant_key"] == claims["applicant_key"]
    assert claims["applicant_key"] != applicant_key(secret + "x", "001099012345")
    assert "001099012345" not in json.dumps(claims)
    assert "applicant_key" not in jose_jwt.get_unverified_claims(for_payments["access_token"])


async def test_revoking_another_clients_token_is_refused_and_leaves_it_working(provider: Provider) -> None:
    """RFC 7009 §2.1: the server checks the token was issued to the client asking, and refuses
    (``unauthorized_client``) when it was not; the token stays valid for its owner."""
    async with provider.client() as browser:
        citizen = await signed_in_tokens(browser)
        province = (
            await browser.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=PROVINCE)
        ).json()
        by_province = [
            await browser.post("/oauth2/revoke", data={"token": citizen[kind]}, auth=PROVINCE)
            for kind in ("refresh_token", "access_token")
        ]
        by_web = await browser.post("/oauth2/revoke", data={"token": province["access_token"], "client_id": "demo-web"})
        still = await browser.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {citizen['access_token']}"})
        refreshed = await refresh(browser, citizen["refresh_token"])
        own = await browser.post("/oauth2/introspect", data={"token": province["access_token"]}, auth=PROVINCE)
    for answer in (*by_province, by_web):
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "unauthorized_client"
    assert still.status_code == 200
    assert refreshed.status_code == 200
    assert own.json()["active"] is True


async def test_a_token_form_past_its_limits_is_refused_as_invalid_request(provider: Provider) -> None:
    form = "application/x-www-form-urlencoded"
    many = "&".join(f"f{i}=x" for i in range(50)) + "&grant_type=client_credentials"  # 51 fields
    async with provider.client() as client:
        answers = {
            "51 fields": await client.post("/oauth2/token", content=many, headers={"Content-Type": form},
                                           auth=PROVINCE),
            "not UTF-8": await client.post("/oauth2/token", content=b"grant_type=client_credentials&scope=\xff",
                                           headers={"Content-Type": form}, auth=PROVINCE),
            "repeated": await client.post("/oauth2/token", content="grant_type=client_credentials&scope=a&scope=b",
                                          headers={"Content-Type": form}, auth=PROVINCE),
            "too long": await client.post("/oauth2/token", data={"grant_type": "client_credentials",
                                                                 "scope": "x" * 4097}, auth=PROVINCE),
        }  # fmt: skip
        fine = await client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=PROVINCE)
    for case, answer in answers.items():
        assert (case, answer.status_code, answer.json()["error"]) == (case, 400, "invalid_request")
    assert fine.status_code == 200
    assert fine.json()["token_type"] == "Bearer"
