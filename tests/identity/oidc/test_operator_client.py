"""The development operators' and officials' client (``demo-operator``, in the README's fixture
table): the seeded administrator and official sign in through it with code + PKCE, a password
and a TOTP code, and get the scopes of their work; a citizen gets none of them."""

from __future__ import annotations

import secrets

import pyotp
import pytest

from services.identity.service.accounts import SEED_ACCOUNTS
from services.identity.service.clients import DEMO_OPERATOR_REDIRECT
from services.kit.auth import JWKSCache, TokenVerifier
from tests.identity.oidc.conftest import Provider, pkce, query, submit_sign_in
from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD

pytestmark = pytest.mark.integration

ADMIN_SCOPES = "payment:admin identity:admin catalogue:admin sync:admin"
_by_kind = {a["kind"]: a for a in SEED_ACCOUNTS}


def _params(challenge: str, scope: str) -> dict[str, str]:
    return {"client_id": "demo-operator", "redirect_uri": DEMO_OPERATOR_REDIRECT, "response_type": "code",
            "scope": scope, "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge, "code_challenge_method": "S256", "prompt": "login"}  # fmt: skip


async def _sign_in_through_the_console(provider: Provider, login: str, password: str, totp: str | None,
                                       scope: str) -> dict:  # fmt: skip
    verifier, challenge = pkce()
    params = _params(challenge, scope)
    async with provider.client() as browser:
        answer = await submit_sign_in(browser, params, login, password, totp)
        assert answer.status_code == 303, answer.text
        back = query(answer.headers["location"])
        assert back["state"] == params["state"] and answer.headers["location"].startswith(DEMO_OPERATOR_REDIRECT)
        tokens = await browser.post(
            "/oauth2/token",
            data={"grant_type": "authorization_code", "code": back["code"], "redirect_uri": DEMO_OPERATOR_REDIRECT,
                  "client_id": "demo-operator", "code_verifier": verifier},
        )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


@pytest.mark.parametrize(
    ("kind", "scope", "granted", "services"),
    [
        ("admin", f"openid {ADMIN_SCOPES}", set(ADMIN_SCOPES.split()), ("payment", "identity", "catalogue", "sync")),
        ("official", "openid dossier:process dossier:read", {"dossier:process", "dossier:read"}, ("dossier",)),
    ],
)
async def test_the_seeded_administrator_and_official_get_their_scopes_through_the_operator_client(
    provider: Provider, kind: str, scope: str, granted: set[str], services: tuple[str, ...]
) -> None:
    account = _by_kind[kind]
    code = pyotp.TOTP(account["totp"]).now()
    tokens = await _sign_in_through_the_console(provider, account["username"], account["password"], code, scope)
    assert set(tokens["scope"].split()) == granted | {"openid"}
    assert "refresh_token" not in tokens
    jwks = JWKSCache(f"{provider.url}/oauth2/jwks")
    for service in services:
        verifier = TokenVerifier(jwks, issuer=provider.settings.oidc_issuer, audience=service)
        principal = await verifier.verify(tokens["access_token"])
        assert principal.subject == account["id"]
        assert principal.acr == "urn:portal:acr:mfa"  # the password and the TOTP code
        assert {s for s in granted if s.startswith(f"{service}:")} <= principal.scopes


async def test_a_citizen_signing_in_through_the_operator_client_gets_no_operator_scope(provider: Provider) -> None:
    tokens = await _sign_in_through_the_console(
        provider, CITIZEN_LOGIN, CITIZEN_PASSWORD, None, f"openid dossier:process {ADMIN_SCOPES}"
    )
    assert tokens["scope"] == "openid"


async def test_an_administrator_without_the_totp_code_gets_no_code(provider: Provider) -> None:
    _, challenge = pkce()
    admin = _by_kind["admin"]
    async with provider.client() as browser:
        answer = await submit_sign_in(browser, _params(challenge, f"openid {ADMIN_SCOPES}"), admin["username"],
                                      admin["password"])  # fmt: skip
    assert answer.status_code == 200 and "location" not in answer.headers
    assert 'name="totp"' in answer.text
