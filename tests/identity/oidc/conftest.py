"""The provider on real HTTP with its development fixtures, and a browser-like client that
fills the sign-in form."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk

from deploy.local.components import free_port
from services.identity.app import create_app
from services.identity.settings import IdentitySettings
from tests.support.identity import identity_settings, seed_identity
from tests.support.servers import serve

REDIRECT = "http://127.0.0.1:8765/callback"


@dataclass
class Provider:
    url: str
    settings: IdentitySettings
    db_url: str

    def client(self, **kw) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
        return httpx.AsyncClient(base_url=self.url, follow_redirects=False, timeout=30, **kw)


def provider_settings(db_url: str, bootstrap: str, port: int, **overrides) -> IdentitySettings:  # type: ignore[no-untyped-def]
    values = {"oidc_issuer": f"http://127.0.0.1:{port}", "refresh_grace_seconds": 1, **overrides}
    return identity_settings(db_url, bootstrap, **values)


@pytest.fixture
def provider(identity_db_url, infra) -> Iterator[Provider]:  # type: ignore[no-untyped-def]
    port = free_port()
    settings = provider_settings(identity_db_url, infra.bootstrap, port)
    seed_identity(identity_db_url, settings)
    with serve(create_app(settings), port=port) as url:
        yield Provider(url, settings, identity_db_url)


class FormReader(HTMLParser):
    """The sign-in page's form: its inputs (name -> value) and any alert text."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.alert: str | None = None
        self._in_alert = False

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""
        if a.get("role") == "alert":
            self._in_alert = True

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if self._in_alert and data.strip():
            self.alert = (self.alert or "") + data.strip()

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        self._in_alert = False


def read_form(html: str) -> FormReader:
    reader = FormReader()
    reader.feed(html)
    return reader


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize_params(challenge: str | None, **extra: str) -> dict[str, str]:
    params = {"client_id": "demo-web", "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid profile",
              "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8)}  # fmt: skip
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return {**params, **extra}


async def submit_sign_in(
    browser: httpx.AsyncClient, params: dict[str, str], login: str, password: str, totp: str | None = None
) -> httpx.Response:
    """Open the authorization URL, fill the form, post it. Returns the answer to the post."""
    page = await browser.get("/oauth2/authorize", params=params)
    assert page.status_code == 200, page.text
    form = read_form(page.text).fields
    form.update({"login": login, "password": password})
    if totp is not None:
        form["totp"] = totp
    return await browser.post("/oauth2/authorize", data=form)


async def code_for(browser: httpx.AsyncClient, params: dict[str, str], login: str, password: str) -> str:
    answer = await submit_sign_in(browser, params, login, password)
    assert answer.status_code == 303, answer.text
    got = query(answer.headers["location"])
    assert got["state"] == params["state"]
    return got["code"]


async def private_key_jwt_client(
    provider: Provider, scopes: tuple[str, ...] = ("dossier:read",)
) -> tuple[str, bytes, dict[str, Any]]:
    """A confidential client authenticating with private_key_jwt: its id, private PEM, public JWK."""
    from services.identity.domain.oauth import ClientKind
    from services.identity.service.clients import create_client
    from tests.support.identity import identity_database

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = {**jwk.construct(pem.decode(), algorithm="RS256").public_key().to_dict(), "kid": "m1", "alg": "RS256",
              "use": "sig"}  # fmt: skip
    client_id = f"ministry-{uuid.uuid4().hex[:6]}"
    db = identity_database(provider.db_url)
    try:
        async with db.transaction() as uow:
            await create_client(
                uow, client_id=client_id, name="Ministry system", kind=ClientKind.CONFIDENTIAL,
                grant_types=["client_credentials"], allowed_scopes=list(scopes), auth_method="private_key_jwt",
                jwks={"keys": [public]},
            )  # fmt: skip
    finally:
        await db.dispose()
    return client_id, pem, public
