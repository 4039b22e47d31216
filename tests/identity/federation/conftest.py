"""Identity on real HTTP as a relying party of the sandbox national e-ID, also on real HTTP: the
e-ID registers identity's client with identity's own JWKS, as make run wires them; and a
browser-like client that goes from the portal's sign-in page to the e-ID and back."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from fastapi import FastAPI

from deploy.local.components import free_port
from deploy.sandbox.eid import EidSettings
from deploy.sandbox.eid import create_app as create_eid
from services.identity.app import create_app
from tests.identity.oidc.conftest import REDIRECT, Provider, authorize_params, pkce, provider_settings, query
from tests.sandbox_eid.conftest import read_form as read_eid_form
from tests.support.identity import seed_identity
from tests.support.servers import serve

EID_PASSWORD, EID_OTP = "Pw-eid-fed-8d2", "135790"  # the test's own development credentials
EID_LINK = re.compile(r'<a class="eid" id="eid" href="([^"]+)"')
CONTINUE = re.compile(r'<a id="continue" href="([^"]+)"')


def back_to_client(answer: httpx.Response) -> str:
    """Where the callback's page sends the browser on to (the client's redirect URI and code)."""
    assert answer.status_code == 200, answer.text
    link = CONTINUE.search(answer.text)
    assert link, answer.text
    target = html.unescape(link.group(1))
    assert f'content="0;url={link.group(1)}"' in answer.text  # and it goes there by itself
    return target


@dataclass
class Federation:
    portal: Provider
    eid_url: str
    eid: FastAPI  # the sandbox e-ID's app (its in-memory state, for what a test cannot wait for)

    def behave(self, **switches: Any) -> None:
        httpx.post(f"{self.eid_url}/api/behaviour", json=switches).raise_for_status()


@pytest.fixture
def federation(identity_db_url, infra) -> Iterator[Federation]:  # type: ignore[no-untyped-def]
    port, eid_port = free_port(), free_port()
    issuer, eid_issuer = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{eid_port}"
    # The portal checks its own access tokens (the e-ID link's API) against its own JWKS.
    settings = provider_settings(identity_db_url, infra.bootstrap, port, eid_issuer=eid_issuer,
                                 eid_timeout_seconds=1.0, oidc_jwks_url=f"{issuer}/oauth2/jwks")  # fmt: skip
    seed_identity(identity_db_url, settings)
    client = {"client_id": "portal-identity", "redirect_uris": [f"{issuer}/oauth2/eid/callback"],
              "jwks_uri": f"{issuer}/oauth2/jwks"}  # fmt: skip
    eid = create_eid(EidSettings(issuer=eid_issuer, clients=[client], password=EID_PASSWORD, otp=EID_OTP))
    with serve(eid, port=eid_port) as eid_url, serve(create_app(settings), port=port) as url:
        yield Federation(Provider(url, settings, identity_db_url), eid_url, eid)


def browser() -> httpx.AsyncClient:
    """A browser: its own cookies, redirects followed by hand."""
    return httpx.AsyncClient(follow_redirects=False, timeout=30)


async def start(fed: Federation, client: httpx.AsyncClient, params: dict[str, str]) -> httpx.Response:
    """Open the portal's sign-in page and follow its "Sign in with VNeID" link."""
    page = await client.get(f"{fed.portal.url}/oauth2/authorize", params=params)
    assert page.status_code == 200, page.text
    link = EID_LINK.search(page.text)
    assert link, "the sign-in page offers VNeID"
    return await client.get(f"{fed.portal.url}{html.unescape(link.group(1))}")


async def at_eid(fed: Federation, client: httpx.AsyncClient, started: httpx.Response, person: str) -> str:
    """At the e-ID: its page filled in (or its session reused); the URL it sends the browser back to."""
    assert started.status_code == 303, started.text
    answer = await client.get(started.headers["location"])
    if answer.status_code == 200:
        form = read_eid_form(answer.text)
        fields = form.hidden | {"person": person, "password": EID_PASSWORD, "otp": EID_OTP}
        answer = await client.post(httpx.URL(fed.eid_url).join(form.action), data=fields)
    assert answer.status_code == 303, answer.text
    location: str = answer.headers["location"]
    assert location.startswith(f"{fed.portal.settings.oidc_issuer}/oauth2/eid/callback?")
    return location


@dataclass
class Outcome:
    answer: httpx.Response  # the portal's callback's answer
    verifier: str
    params: dict[str, str]  # the original client's authorization request


async def sign_in(fed: Federation, person: str, client: httpx.AsyncClient | None = None, **extra: str) -> Outcome:
    """The whole way: the portal's page, the e-ID, and the portal's callback."""
    verifier, challenge = pkce()
    params = authorize_params(challenge, **extra)
    own = client is None
    client = client or browser()
    try:
        callback = await at_eid(fed, client, await start(fed, client, params), person)
        answer = await client.get(callback)
    finally:
        if own:
            await client.aclose()
    return Outcome(answer, verifier, params)


async def tokens_after(fed: Federation, outcome: Outcome) -> dict[str, Any]:
    """The original client's code exchanged: the ID token's claims (and ``_tokens``, the answer)."""
    verifier, params = outcome.verifier, outcome.params
    target = back_to_client(outcome.answer)
    back = query(target)
    assert target.startswith(REDIRECT) and back["state"] == params["state"]
    async with fed.portal.client() as client:
        got = await client.post("/oauth2/token", data={"grant_type": "authorization_code", "code": back["code"],
                                                       "redirect_uri": REDIRECT, "client_id": "demo-web",
                                                       "code_verifier": verifier})  # fmt: skip
        jwks = (await client.get("/oauth2/jwks")).json()
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    header = pyjwt.get_unverified_header(body["id_token"])
    key = pyjwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"])).key
    claims = pyjwt.decode(body["id_token"], key, algorithms=["RS256"], audience="demo-web",
                          issuer=fed.portal.settings.oidc_issuer)  # fmt: skip
    assert claims["nonce"] == params["nonce"]
    return claims | {"_tokens": body}
