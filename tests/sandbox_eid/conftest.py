"""A sandbox e-ID on a real loopback port with two registered relying parties, and the pieces of
an independent relying party: Authlib for the OAuth client, PyJWT and ``cryptography`` for keys
and tokens. Nothing here uses the sandbox's own code to make or check a token."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from deploy.local.components import free_port
from deploy.sandbox.eid import EidSettings, create_app
from tests.support.servers import serve

CLIENT_ID = "test-rp"
REDIRECT = "http://127.0.0.1:9/rp/callback"
EC_CLIENT_ID = "test-rp-ec"
EC_REDIRECT = "http://127.0.0.1:9/rp-ec/callback"
PASSWORD = "Pw-eid-test-4c1"  # the test's own development password
OTP = "246810"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class ClientKey:
    kid: str
    private_pem: bytes
    public_jwk: dict[str, Any]
    alg: str


def rsa_key(kid: str) -> ClientKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return ClientKey(kid, pem, public | {"kid": kid, "alg": "RS256", "use": "sig"}, "RS256")


def ec_key(kid: str) -> ClientKey:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    return ClientKey(kid, pem, public | {"kid": kid, "alg": "ES256", "use": "sig"}, "ES256")


@dataclass
class Eid:
    url: str
    meta: dict[str, Any]
    jwks: dict[str, Any]
    key: ClientKey  # the RSA client's key (inline JWKS)
    ec: ClientKey  # the EC client's key (published at a jwks_uri)
    app: FastAPI
    published: list[dict[str, Any]]  # the EC client's JWKS as it publishes it (tests rotate it)


@pytest.fixture(scope="module")
def client_keys() -> tuple[ClientKey, ClientKey]:
    return rsa_key("rp-1"), ec_key("rp-ec-1")


@pytest.fixture
def eid(client_keys: tuple[ClientKey, ClientKey], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Eid]:
    key, ec_client = client_keys
    # The EC relying party publishes its keys itself, as a deployed one would (jwks_uri).
    published = FastAPI()
    published_keys = [ec_client.public_jwk]
    published.get("/jwks")(lambda: {"keys": published_keys})
    key_file = tmp_path_factory.getbasetemp() / "eid-signing.pem"  # one key for the module's servers
    with serve(published) as rp_url:
        port = free_port("127.0.0.1")
        clients = [
            {"client_id": CLIENT_ID, "redirect_uris": [REDIRECT], "jwks": {"keys": [key.public_jwk]}},
            {"client_id": EC_CLIENT_ID, "redirect_uris": [EC_REDIRECT], "jwks_uri": f"{rp_url}/jwks"},
        ]
        settings = EidSettings(issuer=f"http://127.0.0.1:{port}", clients=clients, password=PASSWORD, otp=OTP,
                               key_file=str(key_file))  # fmt: skip
        app = create_app(settings)
        with serve(app, port=port) as url:
            meta = httpx.get(f"{url}/.well-known/openid-configuration").json()
            jwks = httpx.get(meta["jwks_uri"]).json()
            yield Eid(url, meta, jwks, key, ec_client, app, published_keys)


class Form(HTMLParser):
    """The sign-in page's form: where it posts, its hidden inputs, the alert shown."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.alert = ""
        self._in_alert = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action") or ""
        if tag == "input" and a.get("type") == "hidden" and a.get("name"):
            self.hidden[a["name"] or ""] = a.get("value") or ""
        self._in_alert = a.get("role") == "alert"

    def handle_data(self, data: str) -> None:
        if self._in_alert:
            self.alert += data


def read_form(page: str) -> Form:
    form = Form()
    form.feed(page)
    return form


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize_params(challenge: str | None, **extra: str) -> dict[str, str]:
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid profile",
              "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8)}  # fmt: skip
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return params | extra


async def sign_in(
    browser: httpx.AsyncClient, eid: Eid, params: dict[str, str], person: str, *, otp: str | None = OTP,
    password: str = PASSWORD,
) -> httpx.Response:  # fmt: skip
    """What a person does in a browser: open the authorization URL, fill the form, send it."""
    page = await browser.get(eid.meta["authorization_endpoint"], params=params)
    assert page.status_code == 200, page.text
    form = read_form(page.text)
    fields = form.hidden | {"person": person, "password": password, "otp": otp or ""}
    return await browser.post(httpx.URL(eid.url).join(form.action), data=fields)


def assertion(eid: Eid, key: ClientKey, client_id: str = CLIENT_ID, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": eid.meta["token_endpoint"],
                              "iat": now, "exp": now + 60, "jti": secrets.token_urlsafe(16)}  # fmt: skip
    claims |= changes
    claims = {k: v for k, v in claims.items() if v is not None}
    return pyjwt.encode(claims, key.private_pem, algorithm=key.alg, headers={"kid": key.kid})


def verify_id_token(eid: Eid, token: str, audience: str = CLIENT_ID) -> dict[str, Any]:
    header = pyjwt.get_unverified_header(token)
    key = pyjwt.PyJWK(next(k for k in eid.jwks["keys"] if k["kid"] == header["kid"])).key
    return pyjwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=eid.meta["issuer"],
                        options={"require": ["iss", "sub", "aud", "exp", "iat"]})  # fmt: skip


def exchange(eid: Eid, code: str, verifier: str, client_assertion: str | None = None, **extra: str) -> httpx.Response:
    """The token request a relying party makes, with the RSA client's assertion unless given."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion or assertion(eid, eid.key)} | extra  # fmt: skip
    return httpx.post(eid.meta["token_endpoint"], data=form, timeout=30)


def unsigned_assertion(eid: Eid) -> str:
    now = int(time.time())
    claims = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": eid.meta["token_endpoint"], "exp": now + 60, "jti": "x"}
    return pyjwt.encode(claims, None, algorithm="none")
