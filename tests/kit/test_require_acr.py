"""RFC 9470 step-up in every service: ``require_acr`` refuses a sign-in below the level (or older
than ``max_age``) with the challenge a client can act on, and the OpenAPI document says so."""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI

from contracts.assurance import ACR_LEVELS, IN_PERSON, PASSWORD, SECOND_FACTOR, meets
from services.identity.domain.assurance import Assurance
from services.kit import auth, jose
from services.kit.openapi import REQUIRED_ACR, conventional
from services.kit.problems import install_problem_handlers

ISSUER = "https://portal.test"


class KeySet:
    def __init__(self, key: Any):
        self._key = key

    async def key(self, kid: str | None) -> Any:
        return self._key


@pytest.fixture(scope="module")
def pem_and_app() -> tuple[bytes, FastAPI]:
    pem, public = jose.generate_rsa(2048, "k1")
    app = FastAPI()
    install_problem_handlers(app)
    app.state.verifier = auth.TokenVerifier(KeySet(jose.key_from_jwk(public)), issuer=ISSUER, audience="payment")  # type: ignore[arg-type]

    @app.post("/orders")
    async def pay(principal: Annotated[auth.Principal, auth.require_acr(SECOND_FACTOR, "payment:pay")]) -> str:
        return principal.subject

    @app.post("/recent")
    async def recent(principal: Annotated[auth.Principal, auth.require_acr(PASSWORD, max_age=300)]) -> str:
        return principal.subject

    return pem, app


def token(pem: bytes, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "payment", "sub": "citizen-1", "scope": "payment:pay", "iat": now,
            "exp": now + 300, **claims}  # fmt: skip
    return jose.sign_pem({k: v for k, v in body.items() if v is not None}, pem, "k1", typ=jose.ACCESS_TOKEN_TYPE)


async def call(app: FastAPI, path: str, bearer: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.post(path, headers={"Authorization": f"Bearer {bearer}"})


async def test_a_password_sign_in_is_refused_with_the_rfc_9470_challenge(pem_and_app) -> None:
    pem, app = pem_and_app
    answer = await call(app, "/orders", token(pem, acr=PASSWORD))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == (
        'Bearer error="insufficient_user_authentication", error_description="A stronger sign-in is required", '
        'acr_values="urn:portal:acr:mfa"'
    )
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["type"] == "/problems/insufficient-user-authentication"
    assert body["acr_values"] == SECOND_FACTOR and "max_age" not in body


@pytest.mark.parametrize("acr", [SECOND_FACTOR, IN_PERSON])
async def test_a_sign_in_at_the_level_or_above_passes(pem_and_app, acr: str) -> None:
    pem, app = pem_and_app
    answer = await call(app, "/orders", token(pem, acr=acr))
    assert answer.status_code == 200, answer.text
    assert answer.json() == "citizen-1"


@pytest.mark.parametrize("acr", [None, "urn:other:acr:gold", ""])
async def test_no_acr_or_one_the_portal_does_not_issue_is_below_every_level(pem_and_app, acr: str | None) -> None:
    pem, app = pem_and_app
    assert (await call(app, "/orders", token(pem, acr=acr))).status_code == 401


async def test_a_missing_scope_is_403_not_a_step_up(pem_and_app) -> None:
    pem, app = pem_and_app
    answer = await call(app, "/orders", token(pem, acr=IN_PERSON, scope="dossier:read"))
    assert answer.status_code == 403
    assert "insufficient_user_authentication" not in answer.headers.get("www-authenticate", "")


async def test_max_age_refuses_an_old_or_undated_sign_in_and_names_max_age(pem_and_app) -> None:
    pem, app = pem_and_app
    now = int(time.time())
    assert (await call(app, "/recent", token(pem, auth_time=now - 60))).status_code == 200
    for auth_time in (now - 400, None, "yesterday", True):
        answer = await call(app, "/recent", token(pem, auth_time=auth_time))
        assert answer.status_code == 401, auth_time
        challenge = answer.headers["www-authenticate"]
        assert 'error="insufficient_user_authentication"' in challenge
        assert 'error_description="A more recent sign-in is required"' in challenge
        assert challenge.endswith('acr_values="urn:portal:acr:password", max_age="300"')
        assert answer.json()["max_age"] == 300


def test_the_floor_asks_nothing_and_the_levels_are_identitys() -> None:
    assert [level.value for level in Assurance] == list(ACR_LEVELS)
    assert meets(None, PASSWORD) and not meets(None, SECOND_FACTOR)
    assert meets(IN_PERSON, SECOND_FACTOR) and not meets(SECOND_FACTOR, IN_PERSON)
    with pytest.raises(ValueError, match="max_age"):
        auth.require_acr(PASSWORD, max_age=-1)


def test_the_openapi_document_states_the_level_and_the_challenge(pem_and_app) -> None:
    _, app = pem_and_app
    document = conventional(app.openapi(), "payment", "Payment", [("", [app.router])], ISSUER)
    operation = document["paths"]["/orders"]["post"]
    assert operation[REQUIRED_ACR] == SECOND_FACTOR
    assert operation["security"][0] == {"openIdConnect": ["payment:pay"]}
    assert "insufficient_user_authentication" in operation["responses"]["401"]["description"]
    assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
    assert document["paths"]["/recent"]["post"][REQUIRED_ACR] == PASSWORD


async def test_a_key_bound_token_is_checked_as_dpop_on_a_step_up_route(pem_and_app) -> None:
    from tests.support.dpop import DpopKey

    pem, app = pem_and_app
    key = DpopKey("ES256")
    bound = token(pem, acr=SECOND_FACTOR, cnf={"jkt": key.jkt})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        as_bearer = await client.post("/orders", headers={"Authorization": f"Bearer {bound}"})
        proof = key.proof("POST", f"{ISSUER}/orders", bound)
        as_dpop = await client.post("/orders", headers={"Authorization": f"DPoP {bound}", "DPoP": proof})
        replayed = await client.post("/orders", headers={"Authorization": f"DPoP {bound}", "DPoP": proof})
    assert as_bearer.status_code == 401 and as_bearer.headers["www-authenticate"].startswith("DPoP")
    assert (as_dpop.status_code, as_dpop.json()) == (200, "citizen-1")
    assert replayed.status_code == 401
