"""PAR (RFC 9126), DPoP at the token endpoint (RFC 9449 §5, §10) and the FAPI 2.0 client rules,
as use cases on the fake unit: what binds a code and tokens to a key, what a pushed request
allows, and what each refuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jwt

from services.identity.adapters.oauth import digest
from services.identity.domain.assurance import Assurance
from services.identity.domain.oauth import Client, ClientKind, OAuthError, pkce_s256
from services.identity.service import authorize, clients, dpop, keys, pushed, tokens
from tests.identity.fakes import FakeIdentityUnitOfWork
from tests.identity.unit.conftest import add_citizen, make_settings
from tests.support.dpop import DpopKey

ISSUER = "http://issuer.test"
SETTINGS = make_settings(oidc_issuer=ISSUER, authorization_code_seconds=600)
VERIFIER = "v" * 43
CALLBACK = "https://rp.test/cb"
A, B = DpopKey("ES256"), DpopKey("RS256")


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


async def register(uow: FakeIdentityUnitOfWork, now: datetime, client_id: str, **options: Any) -> Client:
    await keys.ensure_signing_key(uow, SETTINGS, now - timedelta(minutes=1))
    kind = options.pop("kind", ClientKind.PUBLIC)
    client, _ = await clients.create_client(
        uow, client_id=client_id, name=client_id, kind=kind, redirect_uris=options.pop("redirect_uris", [CALLBACK]),
        grant_types=options.pop("grant_types", ["authorization_code", "refresh_token"]), **options,
    )  # fmt: skip
    if "citizen-1" not in uow.accounts.rows:
        await add_citizen(uow, SETTINGS)
    return client


def request_params(client_id: str, **extra: str) -> dict[str, str]:
    return {"client_id": client_id, "redirect_uri": CALLBACK, "response_type": "code", "scope": "openid",
            "code_challenge": pkce_s256(VERIFIER), "code_challenge_method": "S256", **extra}  # fmt: skip


async def code_for(uow: FakeIdentityUnitOfWork, now: datetime, params: dict[str, str]) -> str:
    request = await authorize.parse_request(uow, params)
    session = authorize.Session("citizen-1", Assurance.PASSWORD.value, ("pwd",), now)
    return await authorize.issue_code(uow, SETTINGS, request, session, now)


def redeem(code: str) -> dict[str, str]:
    return {"code": code, "redirect_uri": CALLBACK, "code_verifier": VERIFIER}


async def refused(call: Any) -> str:
    with pytest.raises(OAuthError) as error:
        await call
    return error.value.error


async def test_a_code_and_a_public_clients_tokens_are_bound_to_the_dpop_key(uow, now: datetime) -> None:
    client = await register(uow, now, "app")
    code = await code_for(uow, now, request_params("app", dpop_jkt=A.jkt))
    assert await refused(tokens.exchange_code(uow, SETTINGS, client, redeem(code), now, jkt=B.jkt)) == "invalid_grant"
    code = await code_for(uow, now, request_params("app", dpop_jkt=A.jkt))
    assert await refused(tokens.exchange_code(uow, SETTINGS, client, redeem(code), now)) == "invalid_grant"

    code = await code_for(uow, now, request_params("app", dpop_jkt=A.jkt))
    issued = await tokens.exchange_code(uow, SETTINGS, client, redeem(code), now, jkt=A.jkt)
    assert issued.token_type == "DPoP" and issued.refresh_token
    claims = await tokens.verify_access_token(uow, SETTINGS, issued.access_token, now)
    assert claims["cnf"] == {"jkt": A.jkt}
    introspected = await tokens.introspect(uow, SETTINGS, client, issued.access_token, now)
    assert introspected["cnf"] == {"jkt": A.jkt}

    # RFC 9449 §5: a public client's refresh token needs a proof by the same key.
    form = {"refresh_token": issued.refresh_token}
    assert await refused(tokens.refresh(uow, SETTINGS, client, form, now)) == "invalid_grant"
    assert await refused(tokens.refresh(uow, SETTINGS, client, form, now, jkt=B.jkt)) == "invalid_grant"
    again = await tokens.refresh(uow, SETTINGS, client, form, now, jkt=A.jkt)
    assert again.token_type == "DPoP" and again.refresh_token
    assert uow.tokens.refresh_tokens[digest(again.refresh_token)].dpop_jkt == A.jkt


async def test_a_confidential_clients_refresh_token_is_bound_to_its_authentication_not_a_key(
    uow, now: datetime
) -> None:
    client = await register(uow, now, "portal", kind=ClientKind.CONFIDENTIAL)
    code = await code_for(uow, now, request_params("portal"))
    issued = await tokens.exchange_code(uow, SETTINGS, client, redeem(code), now, jkt=A.jkt)
    assert issued.refresh_token and uow.tokens.refresh_tokens[digest(issued.refresh_token)].dpop_jkt is None
    renewed = await tokens.refresh(uow, SETTINGS, client, {"refresh_token": issued.refresh_token}, now, jkt=B.jkt)
    claims = await tokens.verify_access_token(uow, SETTINGS, renewed.access_token, now)
    assert claims["cnf"] == {"jkt": B.jkt}
    plain = await tokens.refresh(uow, SETTINGS, client, {"refresh_token": renewed.refresh_token or ""}, now)
    assert plain.token_type == "Bearer"
    assert "cnf" not in await tokens.verify_access_token(uow, SETTINGS, plain.access_token, now)


async def test_the_token_endpoint_checks_each_proof_and_refuses_a_replay(uow, now: datetime) -> None:
    client = await register(uow, now, "bank", kind=ClientKind.CONFIDENTIAL, grant_types=["client_credentials"],
                            dpop_bound_access_tokens=True)  # fmt: skip
    url = ISSUER + "/oauth2/token"
    assert await refused(dpop.proof_key(uow, client, [], url, now)) == "invalid_dpop_proof"
    two = [A.proof("POST", url), A.proof("POST", url)]
    assert await refused(dpop.proof_key(uow, client, two, url, now)) == "invalid_dpop_proof"
    elsewhere = [A.proof("POST", ISSUER + "/oauth2/par")]
    assert await refused(dpop.proof_key(uow, client, elsewhere, url, now)) == "invalid_dpop_proof"
    proof = [A.proof("POST", url)]
    assert await dpop.proof_key(uow, client, proof, url, now) == A.jkt
    assert await refused(dpop.proof_key(uow, client, proof, url, now)) == "invalid_dpop_proof"
    issued = await tokens.client_credentials(uow, SETTINGS, client, None, now, jkt=A.jkt)
    assert issued.token_type == "DPoP"
    # A client that does not require DPoP may do without it.
    app = await register(uow, now, "app")
    assert await dpop.proof_key(uow, app, [], url, now) is None


async def test_a_pushed_request_is_its_clients_lives_briefly_and_gives_one_code(uow, now: datetime) -> None:
    portal = await register(uow, now, "portal", kind=ClientKind.CONFIDENTIAL)
    await register(uow, now, "app")
    form = {k: v for k, v in request_params("portal", state="s-1").items() if k != "client_id"}

    stale = await pushed.push(uow, SETTINGS, portal, form, [], now)
    assert stale.request_uri.startswith("urn:ietf:params:oauth:request_uri:") and stale.expires_in == 60
    unopened_too_long = {"client_id": "portal", "request_uri": stale.request_uri}
    with pytest.raises(authorize.Unrecognised):
        await pushed.with_pushed(uow, SETTINGS, unopened_too_long, now + timedelta(seconds=61))

    done = await pushed.push(uow, SETTINGS, portal, form, [], now)
    uri = {"client_id": "portal", "request_uri": done.request_uri}
    with pytest.raises(authorize.Unrecognised):
        await pushed.with_pushed(uow, SETTINGS, {**uri, "client_id": "app"}, now)
    with pytest.raises(authorize.UnsafeRedirect):
        await pushed.with_pushed(uow, SETTINGS, {**uri, "request_uri": "https://evil.test/req"}, now)
    # Only the client, the request URI and the pages' language count beside the pushed request.
    params = await pushed.with_pushed(uow, SETTINGS, {**uri, "state": "forged", "ui_locales": "en"}, now)
    assert params["state"] == "s-1" and params["ui_locales"] == "en" and params["redirect_uri"] == CALLBACK
    request = await authorize.parse_request(uow, params)
    assert request.as_form() == {**uri, "ui_locales": "en"}
    # Once opened it stays usable while the person signs in, then yields one code.
    later = now + timedelta(seconds=SETTINGS.pushed_request_sign_in_seconds - 5)
    request = await authorize.parse_request(uow, await pushed.with_pushed(uow, SETTINGS, uri, later))
    session = authorize.Session("citizen-1", Assurance.PASSWORD.value, ("pwd",), now)
    assert await authorize.issue_code(uow, SETTINGS, request, session, later)
    assert await refused(authorize.issue_code(uow, SETTINGS, request, session, later)) == "invalid_request"
    with pytest.raises(authorize.Unrecognised):
        await pushed.with_pushed(uow, SETTINGS, uri, later)


async def test_the_par_endpoint_refuses_what_an_authorization_request_may_not_be(uow, now: datetime) -> None:
    portal = await register(uow, now, "portal", kind=ClientKind.CONFIDENTIAL)
    form = {k: v for k, v in request_params("portal").items() if k != "client_id"}
    cases = {
        "another client's id": ({**form, "client_id": "app"}, "invalid_request"),
        "a request_uri": ({**form, "request_uri": "urn:ietf:params:oauth:request_uri:x"}, "invalid_request"),
        "a request object": ({**form, "request": "e30.e30."}, "request_not_supported"),
        "an unregistered redirect": ({**form, "redirect_uri": "https://evil.test/cb"}, "invalid_request"),
        "another response type": ({**form, "response_type": "token"}, "unsupported_response_type"),
        "a malformed dpop_jkt": ({**form, "dpop_jkt": "short"}, "invalid_request"),
    }
    for case, (body, error) in cases.items():
        assert (case, await refused(pushed.push(uow, SETTINGS, portal, body, [], now))) == (case, error)
    # A DPoP proof sent with the push binds the code to its key; a dpop_jkt naming another is refused.
    proof = [A.proof("POST", ISSUER + "/oauth2/par")]
    mismatch = await refused(pushed.push(uow, SETTINGS, portal, {**form, "dpop_jkt": B.jkt}, proof, now))
    assert mismatch == "invalid_dpop_proof"
    done = await pushed.push(uow, SETTINGS, portal, form, [A.proof("POST", ISSUER + "/oauth2/par")], now)
    params = await pushed.with_pushed(uow, SETTINGS, {"client_id": "portal", "request_uri": done.request_uri}, now)
    assert params["dpop_jkt"] == A.jkt


async def test_a_client_registered_for_par_cannot_send_its_request_through_the_browser(uow, now: datetime) -> None:
    await register(uow, now, "ministry", kind=ClientKind.CONFIDENTIAL, require_pushed_authorization_requests=True)
    assert await refused(authorize.parse_request(uow, request_params("ministry"))) == "invalid_request"
    # Naming a request_uri is no way around it: only a resolved pushed request may carry one.
    forged = {**request_params("ministry"), "request_uri": "urn:ietf:params:oauth:request_uri:x"}
    with pytest.raises(authorize.UnsafeRedirect):
        await authorize.parse_request(uow, forged)


async def test_a_fapi2_client_is_confidential_with_private_key_jwt_and_gets_60_second_codes(uow, now: datetime) -> None:
    jwks = {"keys": [{**B.jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}
    secret = {"kind": ClientKind.CONFIDENTIAL, "auth_method": "client_secret_basic"}
    plain_http = {"kind": ClientKind.CONFIDENTIAL, "jwks": jwks, "redirect_uris": ["http://bank.test/cb"]}
    for options in ({"kind": ClientKind.PUBLIC}, secret, plain_http):
        assert await refused(register(uow, now, "bad", fapi2=True, **options)) == "invalid_client_metadata"
    client = await register(uow, now, "bank", kind=ClientKind.CONFIDENTIAL, fapi2=True, jwks=jwks)
    assert client.auth_method == "private_key_jwt" and client.requires_par and client.requires_dpop
    form = {k: v for k, v in request_params("bank").items() if k not in ("client_id", "code_challenge")}
    assert await refused(pushed.push(uow, SETTINGS, client, form, [], now)) == "invalid_request"  # PKCE required

    done = await pushed.push(uow, SETTINGS, client, {**form, "code_challenge": pkce_s256(VERIFIER)}, [], now)
    uri = {"client_id": "bank", "request_uri": done.request_uri}
    request = await authorize.parse_request(uow, await pushed.with_pushed(uow, SETTINGS, uri, now))
    session = authorize.Session("citizen-1", Assurance.PASSWORD.value, ("pwd",), now)
    code = await authorize.issue_code(uow, SETTINGS, request, session, now)
    assert uow.authorization_codes.rows[digest(code)].expires_at == now + timedelta(seconds=60)


def assertion(signer: DpopKey, client_id: str, audience: Any, now: datetime) -> dict[str, str]:
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": uuid.uuid4().hex,
              "exp": int(now.timestamp()) + 60}  # fmt: skip
    token = jwt.encode({"alg": signer.alg, "kid": "k1"}, claims, signer.key, algorithms=[signer.alg])
    return {"client_assertion_type": clients.ASSERTION_TYPE, "client_assertion": token}


async def test_es256_client_assertions_and_the_fapi2_audience_rule(uow, now: datetime) -> None:
    jwks = {"keys": [{**A.jwk, "kid": "k1", "use": "sig"}]}
    await register(uow, now, "ministry", kind=ClientKind.CONFIDENTIAL, auth_method="private_key_jwt", jwks=jwks)
    await register(uow, now, "bank", kind=ClientKind.CONFIDENTIAL, fapi2=True, jwks=jwks)
    token_endpoint = ISSUER + "/oauth2/token"
    form = assertion(A, "ministry", token_endpoint, now)
    ministry = await clients.authenticate_client(uow, SETTINGS, form, None, now)
    assert ministry.client_id == "ministry"
    for audience in (token_endpoint, ISSUER + "/oauth2/par", [ISSUER]):
        form = assertion(A, "bank", audience, now)
        assert await refused(clients.authenticate_client(uow, SETTINGS, form, None, now)) == "invalid_client"
    bank = await clients.authenticate_client(uow, SETTINGS, assertion(A, "bank", ISSUER, now), None, now)
    assert bank.fapi2
    # Signed by a key the client did not register (the right algorithm and kid): refused.
    forged = assertion(DpopKey("ES256"), "bank", ISSUER, now)
    assert await refused(clients.authenticate_client(uow, SETTINGS, forged, None, now)) == "invalid_client"
