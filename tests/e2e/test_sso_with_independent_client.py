"""An independent OAuth client (Authlib) and JOSE library (PyJWT) complete the whole
single sign-on journey through the gateway: discovery, code + PKCE with the sign-in form,
tokens, userinfo, refresh, logout; and client credentials for a province."""

from __future__ import annotations

import httpx
import jwt as pyjwt
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client

from services.identity.service.clients import DEMO_PROVINCE_SECRET, DEMO_WEB_REDIRECT
from tests.identity.oidc.conftest import Provider, read_form
from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD

pytestmark = pytest.mark.integration


async def test_authlib_signs_a_citizen_in_through_the_gateway(portal: Provider) -> None:
    async with httpx.AsyncClient(base_url=portal.url) as plain:
        meta = (await plain.get("/.well-known/openid-configuration")).json()
        jwks = (await plain.get(meta["jwks_uri"])).json()
    assert meta["issuer"] == portal.url

    verifier = generate_token(64)
    nonce = generate_token(16)
    rp = AsyncOAuth2Client(
        client_id="demo-web", redirect_uri=DEMO_WEB_REDIRECT, scope="openid profile phone",
        code_challenge_method="S256", token_endpoint_auth_method="none",
    )  # fmt: skip
    url, state = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)

    # The person: a browser-like agent that keeps cookies and fills the form.
    async with httpx.AsyncClient(follow_redirects=False) as person:
        page = await person.get(url)
        form = read_form(page.text).fields | {"login": CITIZEN_LOGIN, "password": CITIZEN_PASSWORD}
        answer = await person.post(meta["authorization_endpoint"], data=form)
    assert answer.status_code == 303
    callback = answer.headers["location"]
    assert callback.startswith(DEMO_WEB_REDIRECT)

    tokens = await rp.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state
    )
    header = pyjwt.get_unverified_header(tokens["id_token"])
    key = pyjwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"])).key
    id_claims = pyjwt.decode(tokens["id_token"], key, algorithms=["RS256"], audience="demo-web", issuer=portal.url)
    assert id_claims["nonce"] == nonce

    userinfo = (await rp.get(meta["userinfo_endpoint"])).json()
    assert userinfo["sub"] == id_claims["sub"] and userinfo["name"]

    refreshed = await rp.refresh_token(meta["token_endpoint"], refresh_token=tokens["refresh_token"])
    assert refreshed["access_token"] != tokens["access_token"]
    assert (await rp.get(meta["userinfo_endpoint"])).status_code == 200
    await rp.aclose()

    async with httpx.AsyncClient(follow_redirects=False) as person:
        logout = await person.get(
            meta["end_session_endpoint"],
            params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:8765/"},
        )
    assert logout.status_code == 303 and logout.headers["location"].startswith("http://127.0.0.1:8765/")


async def test_authlib_gets_a_province_token_with_client_credentials(portal: Provider) -> None:
    async with httpx.AsyncClient(base_url=portal.url) as plain:
        meta = (await plain.get("/.well-known/openid-configuration")).json()
        jwks = (await plain.get(meta["jwks_uri"])).json()
    async with AsyncOAuth2Client(client_id="demo-province", client_secret=DEMO_PROVINCE_SECRET) as machine:
        token = await machine.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    header = pyjwt.get_unverified_header(token["access_token"])
    key = pyjwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"])).key
    claims = pyjwt.decode(token["access_token"], key, algorithms=["RS256"], audience="sync", issuer=portal.url)
    assert claims["scope"] == "sync:push" and claims["agencies"] == ["000.00.01.H22"]
