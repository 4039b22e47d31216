"""PAR (RFC 9126) and DPoP (RFC 9449) on the provider over real HTTP and PostgreSQL: a pushed
request signs a person in once for its client only; DPoP binds the tokens, a replayed proof
and a bound token sent as Bearer are refused at the token endpoint and at userinfo."""

from __future__ import annotations

import jwt as pyjwt
import pytest

from services.identity.service.clients import DEMO_PROVINCE_PORTAL_REDIRECT, DEMO_PROVINCE_PORTAL_SECRET
from tests.identity.oidc.conftest import Provider, authorize_params, code_for, pkce, query, read_form
from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD
from tests.support.dpop import DpopKey

pytestmark = pytest.mark.integration

PORTAL = ("demo-province-portal", DEMO_PROVINCE_PORTAL_SECRET)


async def test_a_pushed_request_signs_a_person_in_once_and_only_for_its_client(provider: Provider) -> None:
    verifier, challenge = pkce()
    request = {"response_type": "code", "redirect_uri": DEMO_PROVINCE_PORTAL_REDIRECT, "scope": "openid profile",
               "state": "s-1", "nonce": "n-1", "code_challenge": challenge,
               "code_challenge_method": "S256"}  # fmt: skip
    async with provider.client() as browser:
        anonymous = await browser.post("/oauth2/par", data={**request, "client_id": PORTAL[0]})
        unregistered = await browser.post("/oauth2/par", data={**request, "redirect_uri": "https://evil.test/cb"},
                                          auth=PORTAL)  # fmt: skip
        answer = await browser.post("/oauth2/par", data=request, auth=PORTAL)
        assert answer.status_code == 201, answer.text
        assert answer.headers["cache-control"] == "no-store"
        pushed = answer.json()
        assert pushed["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
        assert 10 <= pushed["expires_in"] <= 90
        uri = {"client_id": PORTAL[0], "request_uri": pushed["request_uri"]}

        not_its = await browser.get("/oauth2/authorize", params={**uri, "client_id": "demo-web"})
        page = await browser.get("/oauth2/authorize", params=uri)
        assert page.status_code == 200, page.text
        form = read_form(page.text).fields
        assert form["request_uri"] == pushed["request_uri"] and "redirect_uri" not in form  # nothing to tamper with
        signed_in = await browser.post("/oauth2/authorize", data=form | {"login": CITIZEN_LOGIN,
                                                                         "password": CITIZEN_PASSWORD})  # fmt: skip
        assert signed_in.status_code == 303, signed_in.text
        back = query(signed_in.headers["location"])
        assert signed_in.headers["location"].startswith(DEMO_PROVINCE_PORTAL_REDIRECT)
        assert back["state"] == "s-1" and back["iss"] == provider.settings.oidc_issuer
        tokens = await browser.post("/oauth2/token", auth=PORTAL, data={
            "grant_type": "authorization_code", "code": back["code"], "redirect_uri": DEMO_PROVINCE_PORTAL_REDIRECT,
            "code_verifier": verifier})  # fmt: skip
        used = await browser.get("/oauth2/authorize", params=uri)
        garbage = await browser.get("/oauth2/authorize", params={**uri, "request_uri": "x" * 5000})

    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    assert unregistered.status_code == 400 and unregistered.json()["error"] == "invalid_request"
    assert not_its.status_code == 404 and "location" not in not_its.headers
    assert tokens.status_code == 200, tokens.text
    id_token = pyjwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
    assert id_token["nonce"] == "n-1" and id_token["aud"] == PORTAL[0]
    assert used.status_code == 404 and "location" not in used.headers
    assert garbage.status_code == 400 and "location" not in garbage.headers


async def test_dpop_binds_the_tokens_and_refuses_replays_and_bearer_use(provider: Provider) -> None:
    issuer, key = provider.settings.oidc_issuer, DpopKey()
    token_url, userinfo_url = issuer + "/oauth2/token", issuer + "/oauth2/userinfo"
    verifier, challenge = pkce()
    async with provider.client() as browser:
        discovery = (await browser.get("/.well-known/openid-configuration")).json()
        code = await code_for(browser, authorize_params(challenge, dpop_jkt=key.jkt), CITIZEN_LOGIN, CITIZEN_PASSWORD)
        redeem = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:8765/callback",
                  "client_id": "demo-web", "code_verifier": verifier}  # fmt: skip
        proof = key.proof("POST", token_url)
        issued = await browser.post("/oauth2/token", data=redeem, headers={"DPoP": proof})
        assert issued.status_code == 200, issued.text
        body = issued.json()
        refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": "demo-web"}
        replayed = await browser.post("/oauth2/token", data=refresh, headers={"DPoP": proof})
        wrong_url = await browser.post("/oauth2/token", data=refresh, headers={"DPoP": key.proof("POST", userinfo_url)})
        unbound = await browser.post("/oauth2/token", data=refresh)

        access = body["access_token"]
        as_bearer = await browser.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access}"})
        good_proof = key.proof("GET", userinfo_url, access)
        dpop_call = {"Authorization": f"DPoP {access}", "DPoP": good_proof}
        with_proof = await browser.get("/oauth2/userinfo", headers=dpop_call)
        again = await browser.get("/oauth2/userinfo", headers=dpop_call)
        other_key = await browser.get("/oauth2/userinfo", headers={
            "Authorization": f"DPoP {access}", "DPoP": DpopKey().proof("GET", userinfo_url, access)})  # fmt: skip
        renewed = await browser.post("/oauth2/token", data=refresh, headers={"DPoP": key.proof("POST", token_url)})

    assert discovery["pushed_authorization_request_endpoint"] == issuer + "/oauth2/par"
    assert set(discovery["dpop_signing_alg_values_supported"]) == {"ES256", "RS256"}
    assert body["token_type"] == "DPoP"
    assert pyjwt.decode(access, options={"verify_signature": False})["cnf"] == {"jkt": key.jkt}
    for refused in (replayed, wrong_url):
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_dpop_proof")
    assert (unbound.status_code, unbound.json()["error"]) == (400, "invalid_grant")  # a public client's: bound
    assert as_bearer.status_code == 401 and as_bearer.headers["www-authenticate"].startswith("DPoP ")
    assert with_proof.status_code == 200, with_proof.text
    for refused in (again, other_key):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    assert renewed.status_code == 200 and renewed.json()["token_type"] == "DPoP"
