"""RFC 9470 step-up end to end, with an independent OAuth client (Authlib), JOSE library
(joserfc) and TOTP library (pyotp), through the gateway: a token from a password sign-in is
refused by a dossier submission whose online service requires a second factor, with the
challenge; the client asks the provider again with the challenge's acr_values, the person signs
in with their second factor, and the new token files the dossier."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import httpx
import pyotp
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from deploy.local.components import free_port
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.dossier.app import create_app as create_dossier
from services.identity.app import create_app as create_identity
from services.identity.service.clients import DEMO_WEB_REDIRECT
from tests.identity.oidc.conftest import provider_settings
from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD
from tests.support.dossier import (
    INTAKE_FEES,
    INTAKE_FORM,
    PDF,
    citizen_body,
    dossier_settings,
    new_service_id,
    publish_into,
    service_published,
)
from tests.support.identity import seed_identity
from tests.support.servers import serve

pytestmark = pytest.mark.integration

MFA = "urn:portal:acr:mfa"
# RFC 6750 §3 / RFC 9470 §3: auth-param = token "=" quoted-string
AUTH_PARAM = re.compile(r'([a-z_]+)="([^"]*)"')


class Form(HTMLParser):
    """The sign-in page's inputs, read the way any client would (no help from the project)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "input" and named.get("name"):
            self.fields[str(named["name"])] = named.get("value") or ""


@pytest.fixture
def portal(identity_db_url, dossier_db_url, infra, tmp_path) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """The gateway (the issuer) before identity and dossier; yields its URL and a service that
    requires a second factor."""
    gateway_port, identity_port = free_port(), free_port()
    issuer, jwks = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{identity_port}/oauth2/jwks"
    identity = provider_settings(identity_db_url, infra.bootstrap, gateway_port, oidc_jwks_url=jwks)
    seed_identity(identity_db_url, identity)
    service_id = new_service_id()
    published = service_published(service_id, 1, 1, form_schema=INTAKE_FORM, fees=INTAKE_FEES, required_acr=MFA)
    import asyncio

    asyncio.run(publish_into(dossier_db_url, ("published", published)))
    dossier = dossier_settings(
        dossier_db_url, infra.bootstrap, storage_dir=tmp_path / "files", oidc_issuer=issuer, oidc_jwks_url=jwks
    )
    with (
        serve(create_identity(identity), port=identity_port) as identity_url,
        serve(create_dossier(dossier)) as dossier_url,
    ):
        gateway = GatewaySettings(
            port=gateway_port, public_url=issuer, identity_url=identity_url, dossier_url=dossier_url,
            oidc_jwks_url=jwks, log_json=False, rate_limit_per_minute=0,
        )  # fmt: skip
        with serve(create_gateway(gateway), port=gateway_port) as url:
            yield url, service_id


async def sign_in(url: str, person: httpx.AsyncClient, **credentials: str) -> str:
    """The person opens ``url`` and fills the form; returns where the browser is sent back to."""
    page = await person.get(url)
    assert page.status_code == 200, page.text
    form = Form(page.text).fields
    assert "password" in form
    answer = await person.post(url.split("?")[0], data=form | credentials)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


async def test_a_refused_submission_steps_up_with_a_second_factor_and_files(portal: tuple[str, str]) -> None:
    url, service_id = portal
    async with httpx.AsyncClient(base_url=url) as plain:
        meta = (await plain.get("/.well-known/openid-configuration")).json()
        keys = KeySet.import_key_set((await plain.get(meta["jwks_uri"])).json())
    rp = AsyncOAuth2Client(
        client_id="demo-web", redirect_uri=DEMO_WEB_REDIRECT, scope="openid dossier:submit",
        code_challenge_method="S256", token_endpoint_auth_method="none",
    )  # fmt: skip

    async def tokens(person: httpx.AsyncClient, totp: str | None = None, **extra: str) -> dict[str, Any]:
        """The code flow with PKCE, the person signing in (with ``totp`` when given)."""
        verifier = generate_token(64)
        start, state = rp.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce=generate_token(16), **extra
        )
        code = {} if totp is None else {"totp": totp}
        callback = await sign_in(start, person, login=CITIZEN_LOGIN, password=CITIZEN_PASSWORD, **code)
        issued = await rp.fetch_token(
            meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state
        )
        return dict(issued)

    def claims(token: str) -> dict[str, Any]:
        decoded = jwt.decode(token, keys, algorithms=["RS256"])
        jwt.JWTClaimsRegistry(iss={"essential": True, "value": url}).validate(decoded.claims)
        return decoded.claims

    async with (
        httpx.AsyncClient(follow_redirects=False, timeout=30) as person,
        httpx.AsyncClient(base_url=url, timeout=30) as api,
    ):
        first = await tokens(person)
        assert claims(first["access_token"])["acr"] == "urn:portal:acr:password"
        bearer = {"Authorization": f"Bearer {first['access_token']}"}
        refs = []
        for component in ("TP01", "TP02"):
            up = await api.post("/api/v1/dossier/attachments", headers=bearer, files={"file": ("a.pdf", PDF)})
            assert up.status_code == 201, up.text
            refs.append({"id": up.json()["id"], "component_code": component})
        body = citizen_body(service_id, refs)

        refused = await api.post("/api/v1/dossier/dossiers", headers=bearer, json=body)
        assert refused.status_code == 401, refused.text
        scheme, _, params = refused.headers["www-authenticate"].partition(" ")
        challenge = dict(AUTH_PARAM.findall(params))
        assert scheme == "Bearer" and challenge["error"] == "insufficient_user_authentication"
        assert challenge["acr_values"] == MFA and challenge["error_description"]
        assert refused.headers["content-type"].startswith("application/problem+json")

        # The person sets up an authenticator app (the portal's own account API, any client could).
        begun = await api.post("/api/v1/identity/totp/enrolment", headers=bearer)
        assert begun.status_code == 200, begun.text
        totp = pyotp.TOTP(begun.json()["secret"])
        confirmed = await api.post("/api/v1/identity/totp/enrolment/confirm", headers=bearer, json={"code": totp.now()})
        assert confirmed.status_code == 204, confirmed.text

        # Ask again with what the challenge names: the session's password sign-in is not enough.
        next_code = totp.at(datetime.now(UTC).timestamp() + 30)  # the enrolment spent the current one
        stepped = await tokens(person, totp=next_code, acr_values=challenge["acr_values"])
        assert claims(stepped["access_token"])["acr"] in (MFA, "urn:portal:acr:in-person")
        assert claims(stepped["id_token"])["amr"] == ["pwd", "otp"]

        filed = await api.post(
            "/api/v1/dossier/dossiers", headers={"Authorization": f"Bearer {stepped['access_token']}"}, json=body
        )
        assert filed.status_code == 201, filed.text
        assert filed.json()["code"]
    await rp.aclose()
