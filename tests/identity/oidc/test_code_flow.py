"""Authorization code + PKCE, mirroring the OpenID Foundation Basic OP test modules."""

from __future__ import annotations

import time

import httpx
import jwt as pyjwt  # PyJWT: an independent JOSE implementation checks our ID tokens
import pytest

from tests.identity.oidc.conftest import (
    REDIRECT,
    Provider,
    authorize_params,
    code_for,
    pkce,
    query,
    read_form,
)
from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD

pytestmark = pytest.mark.integration


async def exchange(browser: httpx.AsyncClient, code: str, verifier: str | None, **extra: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": "demo-web"}
    if verifier:
        data["code_verifier"] = verifier
    return await browser.post("/oauth2/token", data={**data, **extra})


def verify_id_token(provider: Provider, id_token: str, jwks: dict, nonce: str) -> dict:
    header = pyjwt.get_unverified_header(id_token)
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    return pyjwt.decode(
        id_token, pyjwt.PyJWK(key).key, algorithms=["RS256"], audience="demo-web", issuer=provider.settings.oidc_issuer
    ) | {"_nonce_ok": nonce}


async def test_discovery_names_every_endpoint_and_capability(provider: Provider) -> None:
    async with provider.client() as client:
        doc = (await client.get("/.well-known/openid-configuration")).json()
    issuer = provider.settings.oidc_issuer
    assert doc["issuer"] == issuer
    for name in ("authorization", "token", "userinfo", "introspection", "revocation", "end_session"):
        assert doc[f"{name}_endpoint"].startswith(issuer + "/oauth2/")
    assert doc["jwks_uri"] == issuer + "/oauth2/jwks"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["response_types_supported"] == ["code"]
    assert {"openid", "profile", "phone", "email"} <= set(doc["scopes_supported"])
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"} == set(
        doc["token_endpoint_auth_methods_supported"]
    )


async def test_jwks_publishes_public_rs256_keys_only(provider: Provider) -> None:
    async with provider.client() as client:
        keys = (await client.get("/oauth2/jwks")).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & keys[0].keys()


async def test_code_flow_with_pkce_gives_verifiable_tokens(provider: Provider) -> None:
    verifier, challenge = pkce()
    params = authorize_params(challenge)
    async with provider.client() as browser:
        code = await code_for(browser, params, CITIZEN_LOGIN, CITIZEN_PASSWORD)
        answer = await exchange(browser, code, verifier)
        jwks = (await browser.get("/oauth2/jwks")).json()
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"]
    claims = verify_id_token(provider, body["id_token"], jwks, params["nonce"])
    assert claims["nonce"] == params["nonce"]
    assert claims["acr"] == "urn:portal:acr:password" and claims["amr"] == ["pwd"]
    assert abs(claims["auth_time"] - time.time()) < 120
    access = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert set(access["aud"]) == {"identity"}
    assert access["client_id"] == "demo-web" and "openid" in access["scope"].split()


async def test_the_issuer_is_named_in_the_authorization_response(provider: Provider) -> None:
    _, challenge = pkce()
    async with provider.client() as browser:
        from tests.identity.oidc.conftest import submit_sign_in

        answer = await submit_sign_in(browser, authorize_params(challenge), CITIZEN_LOGIN, CITIZEN_PASSWORD)
    assert query(answer.headers["location"])["iss"] == provider.settings.oidc_issuer


async def test_a_code_used_twice_is_refused_and_revokes_what_it_issued(provider: Provider) -> None:
    verifier, challenge = pkce()
    async with provider.client() as browser:
        code = await code_for(browser, authorize_params(challenge), CITIZEN_LOGIN, CITIZEN_PASSWORD)
        first = (await exchange(browser, code, verifier)).json()
        second = await exchange(browser, code, verifier)
        assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
        userinfo = await browser.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {first['access_token']}"})
        refreshed = await browser.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": "demo-web"},
        )
    assert userinfo.status_code == 401
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


async def test_an_unregistered_redirect_uri_is_refused_without_redirecting(provider: Provider) -> None:
    _, challenge = pkce()
    async with provider.client() as browser:
        for uri in (
            "http://127.0.0.1:8765/callback/evil",
            "http://127.0.0.1:8765/callback?x=1",
            "https://evil.example/cb",
        ):
            answer = await browser.get("/oauth2/authorize", params=authorize_params(challenge, redirect_uri=uri))
            assert answer.status_code == 400
            assert "location" not in answer.headers
            assert "redirect_uri" in read_form(answer.text).alert


async def test_a_public_client_must_use_pkce_with_s256(provider: Provider) -> None:
    async with provider.client() as browser:
        missing = await browser.get("/oauth2/authorize", params=authorize_params(None))
        plain = await browser.get(
            "/oauth2/authorize",
            params=authorize_params(None, code_challenge="a" * 43, code_challenge_method="plain"),
        )
    for answer in (missing, plain):
        assert answer.status_code == 303
        assert answer.headers["location"].startswith(REDIRECT)
        assert query(answer.headers["location"])["error"] == "invalid_request"


@pytest.mark.parametrize("max_age", ["²", "-1", "1e3", "100000001", " 5"])
async def test_a_max_age_that_is_not_ascii_seconds_goes_back_to_the_client_as_invalid_request(
    provider: Provider, max_age: str
) -> None:
    """``"²".isdigit()`` is true but ``int("²")`` fails: only ASCII digits are seconds."""
    _, challenge = pkce()
    async with provider.client() as browser:
        answer = await browser.get("/oauth2/authorize", params=authorize_params(challenge, max_age=max_age))
        suffixed = await browser.get(
            "/oauth2/authorize", params=authorize_params("a" * 43 + "\n", code_challenge_method="S256")
        )
    for refused in (answer, suffixed):
        assert refused.status_code == 303, refused.text
        assert query(refused.headers["location"])["error"] == "invalid_request"


async def test_a_wrong_or_missing_code_verifier_is_refused(provider: Provider) -> None:
    _, challenge = pkce()
    other_verifier, _ = pkce()
    async with provider.client() as browser:
        code = await code_for(browser, authorize_params(challenge), CITIZEN_LOGIN, CITIZEN_PASSWORD)
        wrong = await exchange(browser, code, other_verifier)
        code = await code_for(browser, authorize_params(challenge, prompt="login"), CITIZEN_LOGIN, CITIZEN_PASSWORD)
        missing = await exchange(browser, code, None)
    assert wrong.json()["error"] == "invalid_grant"
    assert missing.json()["error"] == "invalid_grant"


async def test_the_redirect_uri_at_the_token_endpoint_must_match(provider: Provider) -> None:
    verifier, challenge = pkce()
    async with provider.client() as browser:
        code = await code_for(browser, authorize_params(challenge), CITIZEN_LOGIN, CITIZEN_PASSWORD)
        answer = await exchange(browser, code, verifier, redirect_uri="http://127.0.0.1:8765/other")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


async def test_prompt_none_without_a_session_answers_login_required(provider: Provider) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge, prompt="none")
    async with provider.client() as browser:
        answer = await browser.get("/oauth2/authorize", params=params)
    assert answer.status_code == 303
    got = query(answer.headers["location"])
    assert got["error"] == "login_required" and got["state"] == params["state"]


async def test_a_session_signs_in_again_without_the_form_unless_prompt_login_or_max_age(provider: Provider) -> None:
    _, challenge = pkce()
    async with provider.client() as browser:
        await code_for(browser, authorize_params(challenge), CITIZEN_LOGIN, CITIZEN_PASSWORD)
        silent = await browser.get("/oauth2/authorize", params=authorize_params(challenge, prompt="none"))
        assert silent.status_code == 303 and "code" in query(silent.headers["location"])
        again = await browser.get("/oauth2/authorize", params=authorize_params(challenge, prompt="login"))
        assert again.status_code == 200 and "password" in read_form(again.text).fields
        time.sleep(1.1)
        aged = await browser.get("/oauth2/authorize", params=authorize_params(challenge, max_age="0"))
        assert aged.status_code == 200 and 'name="password"' in aged.text
        fresh = await browser.get("/oauth2/authorize", params=authorize_params(challenge, max_age="3600"))
        assert fresh.status_code == 303


async def test_the_sign_in_form_needs_its_csrf_token(provider: Provider) -> None:
    _, challenge = pkce()
    async with provider.client() as browser:
        page = await browser.get("/oauth2/authorize", params=authorize_params(challenge))
        form = read_form(page.text).fields | {"login": CITIZEN_LOGIN, "password": CITIZEN_PASSWORD}
        form["csrf_token"] = "forged"
        answer = await browser.post("/oauth2/authorize", data=form)
    assert answer.status_code == 400
    assert "location" not in answer.headers


async def test_the_sign_in_page_is_vietnamese_first_with_english_available(provider: Provider) -> None:
    _, challenge = pkce()
    async with provider.client() as browser:
        vi = await browser.get("/oauth2/authorize", params=authorize_params(challenge))
        en = await browser.get("/oauth2/authorize", params=authorize_params(challenge, ui_locales="en"))
    assert '<html lang="vi">' in vi.text and "Đăng nhập" in vi.text
    assert '<html lang="en">' in en.text and "Sign in" in en.text
    assert "http" not in vi.text.split("<body>")[0].replace(provider.url, "")  # no third-party assets
    assert vi.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in vi.headers["content-security-policy"]


async def test_a_wrong_password_shows_an_error_and_issues_no_code(provider: Provider) -> None:
    from tests.identity.oidc.conftest import submit_sign_in

    _, challenge = pkce()
    async with provider.client() as browser:
        answer = await submit_sign_in(browser, authorize_params(challenge), CITIZEN_LOGIN, "not-the-password-1")
    assert answer.status_code == 401
    assert "location" not in answer.headers
    assert read_form(answer.text).alert
