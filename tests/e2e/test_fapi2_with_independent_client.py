"""An independent OAuth client (Authlib) and JOSE library (joserfc), no helper of the project's,
complete the FAPI 2.0 journey through the real gateway and identity service: a pushed
authorization request authenticated with private_key_jwt (ES256), the sign-in, the code for a
DPoP-bound token, a DPoP-protected API call; and the portal refuses a replayed proof, a proof
for another request and the bound token sent as a plain bearer token, at the gateway and at the
service behind it.

Only the setup (servers, the registered client) uses the project's code."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from deploy.local.components import free_port
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.identity.app import create_app
from services.identity.domain.oauth import ClientKind
from services.identity.service.accounts import SEED_ACCOUNTS
from services.identity.service.clients import create_client
from tests.identity.oidc.conftest import provider_settings
from tests.support.identity import identity_database, seed_identity
from tests.support.servers import serve

pytestmark = pytest.mark.integration

CLIENT_ID = "bank-portal"
CALLBACK = "https://bank.test/callback"
CITIZEN = next(a for a in SEED_ACCOUNTS if a["kind"] == "citizen")


@dataclass
class Portal:
    url: str  # the gateway: the issuer
    identity_url: str  # the identity service itself, behind the gateway
    client_key: ECKey  # the bank's private_key_jwt key


async def _register(db_url: str, public_jwk: dict[str, Any]) -> None:
    db = identity_database(db_url)
    try:
        async with db.transaction() as uow:
            await create_client(
                uow, client_id=CLIENT_ID, name="Bank portal", kind=ClientKind.CONFIDENTIAL, fapi2=True,
                grant_types=["authorization_code", "refresh_token"], redirect_uris=[CALLBACK],
                jwks={"keys": [public_jwk]},
            )  # fmt: skip
    finally:
        await db.dispose()


@pytest.fixture
def portal(identity_db_url, infra) -> Iterator[Portal]:  # type: ignore[no-untyped-def]
    import asyncio

    gateway_port, identity_port = free_port(), free_port()
    identity_url = f"http://127.0.0.1:{identity_port}"
    settings = provider_settings(
        identity_db_url, infra.bootstrap, gateway_port, oidc_jwks_url=f"{identity_url}/oauth2/jwks"
    )
    seed_identity(identity_db_url, settings)
    key = ECKey.generate_key("P-256")
    asyncio.run(_register(identity_db_url, {**key.as_dict(private=False), "kid": "bank-1", "use": "sig"}))
    gateway = GatewaySettings(port=gateway_port, public_url=f"http://127.0.0.1:{gateway_port}",
                              identity_url=identity_url, log_json=False, rate_limit_per_minute=0)  # fmt: skip
    with serve(create_app(settings), port=identity_port), serve(create_gateway(gateway), port=gateway_port) as url:
        yield Portal(url, identity_url, key)


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            self.fields[str(a["name"])] = a.get("value") or ""


class Dpop:
    """The client's DPoP key and its proofs (RFC 9449 §4.2), made with joserfc."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256")

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        claims: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
        if access_token:
            digest = hashlib.sha256(access_token.encode()).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        return jwt.encode(header, claims, self.key)


async def test_authlib_completes_par_and_dpop_and_the_portal_refuses_replay_and_bearer_use(portal: Portal) -> None:
    async with httpx.AsyncClient() as plain:
        meta = (await plain.get(f"{portal.url}/.well-known/openid-configuration")).json()
        issuer_keys = KeySet.import_key_set((await plain.get(meta["jwks_uri"])).json())
    assert "ES256" in meta["dpop_signing_alg_values_supported"]
    assert "ES256" in meta["token_endpoint_auth_signing_alg_values_supported"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    dpop = Dpop()

    rp = AsyncOAuth2Client(client_id=CLIENT_ID, client_secret=portal.client_key, redirect_uri=CALLBACK,
                           token_endpoint_auth_method="private_key_jwt")  # fmt: skip
    # FAPI 2.0: the assertion's audience is the issuer identifier alone (whatever the endpoint).
    rp.register_client_auth_method(PrivateKeyJWT(meta["issuer"], alg="ES256", headers={"kid": "bank-1"}))
    verifier, state = generate_token(64), generate_token(16)
    request = {"response_type": "code", "redirect_uri": CALLBACK, "scope": "openid profile", "state": state,
               "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}  # fmt: skip

    # FAPI 2.0: a request sent through the browser is refused; a pushed one gets a request_uri.
    async with httpx.AsyncClient() as person:
        direct = await person.get(meta["authorization_endpoint"], params={**request, "client_id": CLIENT_ID})
    assert parse_qs(urlsplit(direct.headers["location"]).query)["error"] == ["invalid_request"]
    par = meta["pushed_authorization_request_endpoint"]
    auth = rp.client_auth("private_key_jwt")
    pushed = await rp.request("POST", par, data=request, auth=auth, withhold_token=True,
                           headers={"DPoP": dpop.proof("POST", par)})  # fmt: skip
    assert pushed.status_code == 201, pushed.text
    request_uri = pushed.json()["request_uri"]

    async with httpx.AsyncClient(follow_redirects=False) as person:
        url = f"{meta['authorization_endpoint']}?{urlencode({'client_id': CLIENT_ID, 'request_uri': request_uri})}"
        page = await person.get(url)
        form = _Form()
        form.feed(page.text)
        answer = await person.post(meta["authorization_endpoint"], data=form.fields | {
            "login": CITIZEN["personal_id"], "password": CITIZEN["password"]})  # fmt: skip
    assert answer.status_code == 303, answer.text
    callback = answer.headers["location"]
    assert parse_qs(urlsplit(callback).query)["iss"] == [meta["issuer"]]  # RFC 9207

    token_url = meta["token_endpoint"]
    with pytest.raises(OAuthError) as no_proof:  # a FAPI client's token requests need a proof
        await rp.fetch_token(token_url, authorization_response=callback, code_verifier=verifier, state=state)
    assert no_proof.value.error == "invalid_dpop_proof"
    tokens = await rp.fetch_token(
        token_url, authorization_response=callback, code_verifier=verifier, state=state,
        headers={"DPoP": dpop.proof("POST", token_url), "Accept": "application/json"},
    )  # fmt: skip
    assert tokens["token_type"] == "DPoP"
    access = tokens["access_token"]
    claims = jwt.decode(access, issuer_keys, algorithms=["RS256"]).claims
    assert claims["cnf"]["jkt"] == dpop.key.thumbprint()

    me = f"{portal.url}/api/v1/identity/me"
    proof = dpop.proof("GET", me, access)
    async with httpx.AsyncClient() as api:
        ok = await api.get(me, headers={"Authorization": f"DPoP {access}", "DPoP": proof})
        replayed = await api.get(me, headers={"Authorization": f"DPoP {access}", "DPoP": proof})
        elsewhere = await api.get(me, headers={"Authorization": f"DPoP {access}",
                                               "DPoP": dpop.proof("GET", f"{portal.url}/api/v1/identity/other",
                                                                  access)})  # fmt: skip
        as_bearer = await api.get(me, headers={"Authorization": f"Bearer {access}"})
        # A path the service has no route for answers 404 there: a 401 is the gateway's own check.
        nowhere = f"{portal.url}/api/v1/identity/nothing-here"
        bearer_nowhere = await api.get(nowhere, headers={"Authorization": f"Bearer {access}"})
        proof_nowhere = {"Authorization": f"DPoP {access}", "DPoP": dpop.proof("GET", nowhere, access)}
        first_nowhere = await api.get(nowhere, headers=proof_nowhere)
        replay_nowhere = await api.get(nowhere, headers=proof_nowhere)
        # The service checks too, for a request that did not come through the gateway.
        behind = f"{portal.identity_url}/api/v1/identity/me"
        bearer_behind = await api.get(behind, headers={"Authorization": f"Bearer {access}"})
        proof_behind = dpop.proof("GET", me, access)  # the public URL: what the client reaches
        ok_behind = await api.get(behind, headers={"Authorization": f"DPoP {access}", "DPoP": proof_behind})
        replay_behind = await api.get(behind, headers={"Authorization": f"DPoP {access}", "DPoP": proof_behind})

    assert ok.status_code == 200, ok.text
    assert ok.json()["id"] == claims["sub"]
    assert first_nowhere.status_code == 404  # through the gateway, to the service
    for refused in (replayed, elsewhere, replay_behind, replay_nowhere):
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    for refused in (as_bearer, bearer_behind, bearer_nowhere):
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith('DPoP error="invalid_token"')
    assert ok_behind.status_code == 200, ok_behind.text

    renewed = await rp.refresh_token(
        token_url, refresh_token=tokens["refresh_token"],
        headers={"DPoP": dpop.proof("POST", token_url), "Accept": "application/json"},
    )  # fmt: skip
    assert renewed["token_type"] == "DPoP" and renewed["access_token"] != access
    await rp.aclose()
