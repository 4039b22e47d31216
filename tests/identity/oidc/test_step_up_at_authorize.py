"""Step-up at the authorization endpoint (RFC 9470, OIDC Core §3.1.2.1 and §5.5.1.1): a session
below the acr asked for signs in again at that level; tokens say truly how and when the person
signed in; an essential level (or in-person) not reached gets no code."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pyotp
import pytest
from jose import jwt

from deploy.local.components import free_port
from services.identity.app import create_app
from tests.identity.oidc.conftest import (
    Provider,
    authorize_params,
    code_for,
    pkce,
    provider_settings,
    query,
    read_form,
    submit_sign_in,
)
from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD, ENTERPRISE_LOGIN, ENTERPRISE_PASSWORD
from tests.identity.oidc.test_code_flow import exchange
from tests.support.identity import seed_identity
from tests.support.servers import serve

pytestmark = pytest.mark.integration


@pytest.fixture
def provider(identity_db_url, infra) -> Iterator[Provider]:  # type: ignore[no-untyped-def]
    """The provider trusting its own keys for its account API (a second factor is enrolled there)."""
    port = free_port()
    settings = provider_settings(
        identity_db_url, infra.bootstrap, port, oidc_jwks_url=f"http://127.0.0.1:{port}/oauth2/jwks"
    )
    seed_identity(identity_db_url, settings)
    with serve(create_app(settings), port=port) as url:
        yield Provider(url, settings, identity_db_url)


PASSWORD, MFA, IN_PERSON = "urn:portal:acr:password", "urn:portal:acr:mfa", "urn:portal:acr:in-person"


def claims_of(token: str) -> dict:
    return jwt.get_unverified_claims(token)


async def tokens_for(browser: httpx.AsyncClient, params: dict[str, str], verifier: str, **form: str) -> dict:
    answer = await submit_sign_in(browser, params, **form)  # type: ignore[arg-type]
    assert answer.status_code == 303, answer.text
    got = query(answer.headers["location"])
    assert "code" in got, got
    issued = await exchange(browser, got["code"], verifier)
    assert issued.status_code == 200, issued.text
    return issued.json()


async def enrol_totp(provider: Provider, access_token: str) -> str:
    me = {"Authorization": f"Bearer {access_token}"}
    async with provider.client() as api:
        begun = await api.post("/api/v1/identity/totp/enrolment", headers=me)
        assert begun.status_code == 200, begun.text
        secret = begun.json()["secret"]
        done = await api.post("/api/v1/identity/totp/enrolment/confirm", json={"code": pyotp.TOTP(secret).now()},
                              headers=me)  # fmt: skip
        assert done.status_code == 204, done.text
    return secret


async def test_a_password_session_steps_up_to_a_second_factor_when_acr_values_ask(provider: Provider) -> None:
    verifier, challenge = pkce()
    async with provider.client() as browser:
        first = await tokens_for(
            browser, authorize_params(challenge), verifier, login=CITIZEN_LOGIN, password=CITIZEN_PASSWORD
        )
        access = claims_of(first["access_token"])
        assert (access["acr"], claims_of(first["id_token"])["amr"]) == (PASSWORD, ["pwd"])
        assert abs(access["auth_time"] - time.time()) < 60  # services judge max_age by it

        # The session is enough for a password request, silently; not for mfa, even with prompt=none.
        silent = await browser.get("/oauth2/authorize", params=authorize_params(challenge, prompt="none"))
        assert "code" in query(silent.headers["location"])
        refused = await browser.get(
            "/oauth2/authorize", params=authorize_params(challenge, prompt="none", acr_values=MFA)
        )
        assert query(refused.headers["location"])["error"] == "login_required"

        secret = await enrol_totp(provider, first["access_token"])
        params = authorize_params(challenge, acr_values=f"{MFA} urn:other:gold")
        page = await browser.get("/oauth2/authorize", params=params)
        assert page.status_code == 200
        form = read_form(page.text).fields
        assert "totp" in form and form["acr_values"] == params["acr_values"] and 'id="step-up"' in page.text
        time.sleep(1)  # the tokens' auth_time moves on with the new sign-in
        next_code = pyotp.TOTP(secret).at(datetime.now(UTC).timestamp() + 30)  # the enrolment's code is spent
        stepped = await tokens_for(
            browser, params, verifier, login=CITIZEN_LOGIN, password=CITIZEN_PASSWORD, totp=next_code
        )
    access, id_token = claims_of(stepped["access_token"]), claims_of(stepped["id_token"])
    assert access["acr"] == id_token["acr"] == IN_PERSON  # the fixture citizen was verified in person: above mfa
    assert id_token["amr"] == ["pwd", "otp"]
    assert access["auth_time"] == id_token["auth_time"] > claims_of(first["access_token"])["auth_time"]


async def test_an_essential_acr_not_reached_gets_no_code(provider: Provider) -> None:
    verifier, challenge = pkce()
    essential = json.dumps({"id_token": {"acr": {"essential": True, "values": [MFA]}}})
    async with provider.client() as browser:
        answer = await submit_sign_in(
            browser, authorize_params(challenge, claims=essential), ENTERPRISE_LOGIN, ENTERPRISE_PASSWORD
        )
        assert answer.status_code == 303
        got = query(answer.headers["location"])
        assert got["error"] == "unmet_authentication_requirements" and "code" not in got

        # Voluntary, the same sign-in gets a code whose tokens say the level truly reached.
        voluntary = await tokens_for(
            browser,
            authorize_params(challenge, acr_values=MFA),
            verifier,
            login=ENTERPRISE_LOGIN,
            password=ENTERPRISE_PASSWORD,
        )
        assert claims_of(voluntary["access_token"])["acr"] == PASSWORD

        # In-person (the national e-ID level 2) is never stood in for by a lower level.
        page = await browser.get("/oauth2/authorize", params=authorize_params(challenge, acr_values=IN_PERSON))
        assert "VNeID" in page.text
        in_person = await submit_sign_in(
            browser, authorize_params(challenge, acr_values=IN_PERSON), ENTERPRISE_LOGIN, ENTERPRISE_PASSWORD
        )
        assert query(in_person.headers["location"])["error"] == "unmet_authentication_requirements"


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ("{not json", "invalid_request"),
        ("[1]", "invalid_request"),
        ("x" * 3000, "invalid_request"),
        (
            json.dumps({"id_token": {"acr": {"essential": True, "value": "urn:other:gold"}}}),
            "unmet_authentication_requirements",
        ),
    ],
)
async def test_a_claims_parameter_that_cannot_be_read_or_met_goes_back_to_the_client(
    provider: Provider, claims: str, error: str
) -> None:
    _, challenge = pkce()
    async with provider.client() as browser:
        answer = await browser.get("/oauth2/authorize", params=authorize_params(challenge, claims=claims))
        assert answer.status_code == 303
        assert query(answer.headers["location"])["error"] == error


async def test_discovery_says_the_claims_parameter_is_read(provider: Provider) -> None:
    async with provider.client() as client:
        document = (await client.get("/.well-known/openid-configuration")).json()
    assert document["claims_parameter_supported"] is True
    assert document["acr_values_supported"] == [PASSWORD, MFA, IN_PERSON]


async def test_a_voluntary_password_level_asks_nothing_more(provider: Provider) -> None:
    _, challenge = pkce()
    async with provider.client() as browser:
        await code_for(browser, authorize_params(challenge), CITIZEN_LOGIN, CITIZEN_PASSWORD)
        silent = await browser.get(
            "/oauth2/authorize", params=authorize_params(challenge, prompt="none", acr_values=PASSWORD)
        )
        assert "code" in query(silent.headers["location"])
