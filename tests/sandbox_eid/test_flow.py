"""The sandbox e-ID as a standard relying party sees it: Authlib completes the code flow with
PKCE and ``private_key_jwt``; PyJWT checks the ID token against the published JWKS."""

from __future__ import annotations

import time

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey, RSAKey

from tests.sandbox_eid.conftest import (
    CLIENT_ID,
    EC_CLIENT_ID,
    EC_REDIRECT,
    REDIRECT,
    Eid,
    assertion,
    authorize_params,
    ec_key,
    exchange,
    pkce,
    query,
    read_form,
    rsa_key,
    sign_in,
    unsigned_assertion,
    verify_id_token,
)  # fmt: skip

LEVEL1, LEVEL2 = "urn:vn:eid:level1", "urn:vn:eid:level2"


def relying_party(eid: Eid, client_id: str = CLIENT_ID, redirect: str = REDIRECT) -> AsyncOAuth2Client:
    key = eid.key if client_id == CLIENT_ID else eid.ec
    secret = RSAKey.import_key(key.private_pem) if key.alg == "RS256" else ECKey.import_key(key.private_pem)
    rp = AsyncOAuth2Client(
        client_id=client_id, client_secret=secret, redirect_uri=redirect, scope="openid profile phone",
        code_challenge_method="S256", token_endpoint_auth_method="private_key_jwt",
    )  # fmt: skip
    rp.register_client_auth_method(PrivateKeyJWT(eid.meta["token_endpoint"], headers={"kid": key.kid}, alg=key.alg))
    return rp


async def browser_sign_in(eid: Eid, url: str, person: str) -> str:
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        page = await browser.get(url)
        assert page.status_code == 200
        form = read_form(page.text)
        answer = await browser.post(
            httpx.URL(eid.url).join(form.action),
            data=form.hidden | {"person": person, "password": "Pw-eid-test-4c1", "otp": "246810"},
        )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def test_discovery_is_an_openid_provider_s(eid: Eid) -> None:
    meta = eid.meta
    assert meta["issuer"] == eid.url
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert meta[name].startswith(eid.url + "/")
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(meta["acr_values_supported"]) == {LEVEL1, LEVEL2}
    [key] = eid.jwks["keys"]
    assert key["kty"] == "RSA" and key["use"] == "sig" and "d" not in key and key["kid"]


async def test_authlib_completes_the_code_flow_at_level_2(eid: Eid) -> None:
    verifier, nonce = generate_token(64), generate_token(16)
    rp = relying_party(eid)
    url, state = rp.create_authorization_url(
        eid.meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce, acr_values=LEVEL2
    )
    callback = await browser_sign_in(eid, url, "binh")
    assert callback.startswith(REDIRECT + "?")
    back = query(callback)
    assert back["state"] == state and back["iss"] == eid.url  # RFC 9207

    tokens = await rp.fetch_token(eid.meta["token_endpoint"], authorization_response=callback,
                                  code_verifier=verifier, state=state)  # fmt: skip
    claims = verify_id_token(eid, tokens["id_token"])
    assert claims["nonce"] == nonce and claims["acr"] == LEVEL2
    assert set(claims["amr"]) >= {"pwd", "otp"}
    assert abs(claims["auth_time"] - time.time()) < 30 and claims["exp"] > claims["iat"]
    assert claims["personal_identification_number"] == "079185006789" and claims["name"] == "Trần Thị Bình"
    assert claims["phone_number_verified"] is True and claims["birthdate"] == "1985-05-20"
    userinfo = (await rp.get(eid.meta["userinfo_endpoint"])).json()
    assert userinfo["sub"] == claims["sub"] and userinfo["personal_identification_number"] == "079185006789"
    await rp.aclose()


async def test_an_es256_client_with_a_jwks_uri_signs_in_an_enterprise(eid: Eid) -> None:
    verifier = generate_token(64)
    rp = relying_party(eid, EC_CLIENT_ID, EC_REDIRECT)
    url, state = rp.create_authorization_url(eid.meta["authorization_endpoint"], code_verifier=verifier, nonce="n-1")
    callback = await browser_sign_in(eid, url, "org")
    tokens = await rp.fetch_token(eid.meta["token_endpoint"], authorization_response=callback,
                                  code_verifier=verifier, state=state)  # fmt: skip
    claims = verify_id_token(eid, tokens["id_token"], audience=EC_CLIENT_ID)
    assert claims["eid_type"] == "organisation" and claims["tax_code"] == "0312345678"
    assert "personal_identification_number" not in claims
    await rp.aclose()


async def test_the_legal_representative_says_which_enterprise(eid: Eid) -> None:
    people = httpx.get(f"{eid.url}/api/people").json()
    [cuong] = [p for p in people if p.get("legal_representative_of")]
    assert cuong["legal_representative_of"] == [{"tax_code": "0312345678", "name": "Công ty TNHH Thử Nghiệm Số"}]
    assert {p["acr"] for p in people} == {LEVEL1, LEVEL2}
    assert all(len(p.get("personal_identification_number", p.get("tax_code"))) in (12, 10) for p in people)


async def code_for(eid: Eid, person: str = "an", **extra: str) -> tuple[str, str, dict[str, str]]:
    verifier, challenge = pkce()
    params = authorize_params(challenge, **extra)
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        answer = await sign_in(browser, eid, params, person)
    assert answer.status_code == 303, answer.text
    back = query(answer.headers["location"])
    assert back["state"] == params["state"], back
    return back["code"], verifier, params


async def test_a_wrong_pkce_verifier_is_refused(eid: Eid) -> None:
    code, _, _ = await code_for(eid)
    other, _ = pkce()
    answer = exchange(eid, code, other)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


async def test_a_code_is_used_once_and_its_second_use_revokes_the_first(eid: Eid) -> None:
    code, verifier, _ = await code_for(eid)
    first = exchange(eid, code, verifier)
    assert first.status_code == 200
    token = first.json()["access_token"]
    userinfo = eid.meta["userinfo_endpoint"]
    assert httpx.get(userinfo, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    again = exchange(eid, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert httpx.get(userinfo, headers={"Authorization": f"Bearer {token}"}).status_code == 401


async def test_a_code_is_bound_to_its_redirect_uri(eid: Eid) -> None:
    code, verifier, _ = await code_for(eid)
    answer = exchange(eid, code, verifier, redirect_uri=REDIRECT + "x")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


async def test_a_code_is_bound_to_its_client(eid: Eid) -> None:
    code, verifier, _ = await code_for(eid)
    answer = exchange(eid, code, verifier, assertion(eid, eid.ec, EC_CLIENT_ID))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


async def test_a_code_expires_after_60_seconds(eid: Eid) -> None:
    code, verifier, _ = await code_for(eid)
    eid.app.state.provider.codes[code].expires = time.time() - 1  # sixty seconds later
    answer = exchange(eid, code, verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "case",
    ["wrong key", "expired", "other audience", "sub is not the client", "no jti", "no exp", "none alg",
     "not private_key_jwt"],
)  # fmt: skip
async def test_a_bad_client_assertion_is_refused(eid: Eid, case: str) -> None:
    code, verifier, _ = await code_for(eid)
    now = int(time.time())
    made = {
        "wrong key": lambda: assertion(eid, rsa_key(eid.key.kid)),  # the right kid, a key never registered
        "expired": lambda: assertion(eid, eid.key, iat=now - 600, exp=now - 300),
        "other audience": lambda: assertion(eid, eid.key, aud="https://elsewhere.example/token"),
        "sub is not the client": lambda: assertion(eid, eid.key, sub="someone"),
        "no jti": lambda: assertion(eid, eid.key, jti=None),
        "no exp": lambda: assertion(eid, eid.key, exp=None),
        "none alg": lambda: unsigned_assertion(eid),
        "not private_key_jwt": lambda: "",
    }[case]()
    answer = exchange(eid, code, verifier, made) if made else exchange(eid, code, verifier, client_assertion_type="")
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    # The code was not spent by a client that failed to authenticate.
    assert exchange(eid, code, verifier).status_code == 200


async def test_a_replayed_client_assertion_is_refused(eid: Eid) -> None:
    once = assertion(eid, eid.key)
    code, verifier, _ = await code_for(eid)
    assert exchange(eid, code, verifier, once).status_code == 200
    code, verifier, _ = await code_for(eid)
    answer = exchange(eid, code, verifier, once)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


async def test_the_issuer_is_an_accepted_audience(eid: Eid) -> None:
    code, verifier, _ = await code_for(eid)
    assert exchange(eid, code, verifier, assertion(eid, eid.key, aud=eid.meta["issuer"])).status_code == 200


async def test_the_token_endpoint_wants_a_form(eid: Eid) -> None:
    answer = httpx.post(eid.meta["token_endpoint"], json={"grant_type": "authorization_code"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    answer = httpx.post(eid.meta["token_endpoint"], data={"grant_type": "password"})
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"
    big = httpx.post(eid.meta["token_endpoint"], data={"grant_type": "authorization_code", "code": "x" * 20_000})
    assert big.status_code == 400 and big.json()["error"] == "invalid_request"


async def test_userinfo_refuses_an_unknown_token(eid: Eid) -> None:
    answer = httpx.get(eid.meta["userinfo_endpoint"], headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401 and "invalid_token" in answer.headers["www-authenticate"]


async def test_a_client_that_rotates_its_published_key_is_read_again(eid: Eid, monkeypatch: pytest.MonkeyPatch) -> None:
    code, verifier, _ = await code_for(eid, redirect_uri=EC_REDIRECT, client_id=EC_CLIENT_ID)
    form = {"redirect_uri": EC_REDIRECT}
    assert exchange(eid, code, verifier, assertion(eid, eid.ec, EC_CLIENT_ID), **form).status_code == 200
    rotated = ec_key("rp-ec-2")
    eid.published[:] = [rotated.public_jwk]
    monkeypatch.setattr("deploy.sandbox.eid.JWKS_REFETCH_SECONDS", 0.0)  # not ten seconds' wait in a test
    code, verifier, _ = await code_for(eid, redirect_uri=EC_REDIRECT, client_id=EC_CLIENT_ID)
    answer = exchange(eid, code, verifier, assertion(eid, rotated, EC_CLIENT_ID), **form)
    assert answer.status_code == 200, answer.text
    # The retired key no longer works.
    code, verifier, _ = await code_for(eid, redirect_uri=EC_REDIRECT, client_id=EC_CLIENT_ID)
    answer = exchange(eid, code, verifier, assertion(eid, eid.ec, EC_CLIENT_ID), **form)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
