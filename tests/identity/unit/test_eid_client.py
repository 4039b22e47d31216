"""What identity accepts from the national e-ID, without a network: the ID token's checks (each
one able to refuse), and the client's bounds on the e-ID's answers (size, time, status, shape)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import jwt as pyjwt
import pytest

from services.identity.adapters.eid import EidClient
from services.identity.domain.federation import EidAnswerRefused, EidDeclined, EidSignInExpired, EidUnavailable
from services.identity.service.federation import begin, complete, verify_id_token
from services.identity.service.keys import ensure_signing_key, jwks
from services.kit.jose import generate_rsa
from tests.identity.fakes import FakeIdentityUnitOfWork
from tests.identity.unit.conftest import NOW, make_settings

ISSUER = "https://eid.example"
SETTINGS = make_settings(eid_issuer=ISSUER, eid_client_id="portal-identity")
NONCE = "n-0123456789"
PEM, JWK = generate_rsa(2048, "eid-1")
OTHER_PEM, _ = generate_rsa(2048, "eid-1")  # the same kid, a key the e-ID never published
DISCOVERY = {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize", "token_endpoint": f"{ISSUER}/token",
             "jwks_uri": f"{ISSUER}/jwks"}  # fmt: skip


def eid(handler: Any = None, **limits: Any) -> EidClient:
    def default(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=DISCOVERY)
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [JWK]})
        return httpx.Response(200, json={"id_token": "x"})

    options = {"timeout_seconds": 1.0, "max_response_bytes": 64 * 1024, "discovery_seconds": 60.0,
               "jwks_min_refresh_seconds": 10.0} | limits  # fmt: skip
    return EidClient(ISSUER, transport=httpx.MockTransport(handler or default), **options)


def id_token(pem: bytes = PEM, headers: dict[str, Any] | None = None, alg: str = "RS256", **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER, "aud": "portal-identity", "sub": "vneid-1", "exp": now + 300, "iat": now, "auth_time": now - 5,
        "nonce": NONCE, "acr": "urn:vn:eid:level2", "amr": ["pwd", "otp"], "eid_type": "citizen",
        "personal_identification_number": "079185006789", "name": "Trần Thị Bình",
    }  # fmt: skip
    claims = {k: v for k, v in (claims | changes).items() if v is not None}
    key: Any = pem if alg == "RS256" else "a-shared-secret-of-32-bytes-len!"
    return pyjwt.encode(claims, key, algorithm=alg, headers={"kid": "eid-1"} | (headers or {}))


async def verify(token: str, client: EidClient | None = None) -> Any:
    return await verify_id_token(client or eid(), SETTINGS, token, NONCE, NOW.replace(year=2100))


async def test_a_good_id_token_names_the_person() -> None:
    who = await verify(id_token())
    assert who.identifier == "079185006789" and who.subject == "vneid-1" and who.amr == ("pwd", "otp")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: id_token(nonce="another"), id="another sign-in's nonce"),
        pytest.param(lambda: id_token(nonce=None), id="no nonce"),
        pytest.param(lambda: id_token(aud="someone-else"), id="for another client"),
        pytest.param(lambda: id_token(aud=["portal-identity", "other"]), id="several audiences, no azp"),
        pytest.param(lambda: id_token(iss="https://evil.example"), id="another issuer"),
        pytest.param(lambda: id_token(exp=int(time.time()) - 3600), id="expired"),
        pytest.param(lambda: id_token(iat=None), id="no iat"),
        pytest.param(lambda: id_token(OTHER_PEM), id="a key not published"),
        pytest.param(lambda: id_token(alg="HS256"), id="a shared-secret algorithm"),
        pytest.param(lambda: id_token(headers={"kid": "nobody"}), id="an unknown kid"),
        pytest.param(lambda: id_token(headers={"typ": "at+jwt"}), id="an access token"),
        pytest.param(lambda: "not-a-jwt", id="not a JWT"),
        pytest.param(lambda: None, id="no id_token"),
        pytest.param(lambda: "a" * 20_000, id="too long"),
    ],
)
async def test_an_id_token_that_fails_a_check_is_refused(token: Any) -> None:
    with pytest.raises(EidAnswerRefused):
        await verify(token())


async def test_several_audiences_are_taken_when_the_token_is_authorised_for_the_portal() -> None:
    who = await verify(id_token(aud=["portal-identity", "other"], azp="portal-identity"))
    assert who.subject == "vneid-1"


def answering(status: int = 200, body: bytes = b"{}", delay: float = 0) -> Any:
    async def handler(request: httpx.Request) -> httpx.Response:
        if delay:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(status, content=body)

    return handler


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        pytest.param(answering(503), EidUnavailable, id="down"),
        pytest.param(answering(delay=1), EidUnavailable, id="slow"),
        pytest.param(answering(body=b"<html>"), EidUnavailable, id="not JSON"),
        pytest.param(answering(body=b'{"issuer": "' + b"x" * 70_000 + b'"}'), EidUnavailable, id="too large"),
        pytest.param(answering(body=json.dumps({"issuer": ISSUER}).encode()), EidUnavailable, id="no endpoints"),
        pytest.param(
            answering(body=json.dumps(DISCOVERY | {"issuer": "https://evil.example"}).encode()),
            EidAnswerRefused,
            id="another issuer",
        ),
    ],
)
async def test_a_discovery_document_that_cannot_be_used_is_refused(handler: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        await eid(handler).metadata()


async def test_discovery_is_cached_and_a_token_refusal_is_the_eids() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/token":
            return httpx.Response(400, json={"error": "invalid_grant"})
        return httpx.Response(200, json=DISCOVERY)

    client = eid(handler)
    await client.metadata()
    with pytest.raises(EidAnswerRefused, match="invalid_grant"):
        await client.exchange({"grant_type": "authorization_code"})
    assert calls == ["/.well-known/openid-configuration", "/token"]


async def test_the_keys_are_fetched_again_for_a_new_kid_but_not_more_than_the_limit_allows() -> None:
    fetched: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks":
            fetched.append("jwks")
            return httpx.Response(200, json={"keys": [JWK]})
        return httpx.Response(200, json=DISCOVERY)

    slow_to_refresh, quick = eid(handler), eid(handler, jwks_min_refresh_seconds=0)
    for client in (slow_to_refresh, quick):
        await client.signing_keys("eid-1")
        await client.signing_keys("eid-1")  # known: from the cache
        await client.signing_keys("eid-2")  # new: fetched again when allowed
    assert len(fetched) == 1 + 2


async def started(uow: FakeIdentityUnitOfWork, **settings: Any) -> tuple[dict[str, str], str]:
    """A sign-in begun on the fake unit: the e-ID's authorization request, and the browser's cookie."""
    went = await begin(uow, make_settings(eid_issuer=ISSUER, **settings), eid(), {"client_id": "demo-web"}, NOW)
    assert went.authorization_url.startswith(f"{ISSUER}/authorize?")
    return dict(parse_qsl(urlsplit(went.authorization_url).query)), went.browser_secret


async def test_the_eids_ending_of_a_sign_in_is_told_apart_from_a_foreign_or_expired_callback() -> None:
    uow = FakeIdentityUnitOfWork()
    settings = make_settings(eid_issuer=ISSUER)
    asked, cookie = await started(uow)
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["nonce"] and asked["state"] and cookie not in asked.values()  # nothing of the cookie leaves

    async def back(params: dict[str, str], browser: str | None = cookie, now: Any = NOW) -> Any:
        return await complete(uow, settings, eid(), params, browser, client_ip="198.51.100.7", now=now)

    with pytest.raises(EidSignInExpired):
        await back({"state": asked["state"], "error": "access_denied"}, browser="another-browser")
    with pytest.raises(EidDeclined):  # the same sign-in, in its own browser: still there
        await back({"state": asked["state"], "error": "access_denied", "iss": ISSUER})
    with pytest.raises(EidSignInExpired):  # used once
        await back({"state": asked["state"], "error": "access_denied"})

    asked, cookie = await started(uow)
    with pytest.raises(EidAnswerRefused):  # RFC 9207: the answer names another issuer
        await back({"state": asked["state"], "code": "c", "iss": "https://evil.example"}, browser=cookie)
    asked, cookie = await started(uow)
    with pytest.raises(EidSignInExpired):  # ten minutes later
        await back({"state": asked["state"], "code": "c"}, browser=cookie, now=NOW + timedelta(seconds=601))


async def test_a_completed_sign_in_authenticates_with_our_key_and_honours_max_age() -> None:
    now = datetime.now(UTC)  # the ID token's expiry is checked against the clock
    uow = FakeIdentityUnitOfWork()
    settings = make_settings(eid_issuer=ISSUER)
    await ensure_signing_key(uow, settings, now)
    sent: list[dict[str, str]] = []
    auth_time = int(now.timestamp()) - 120

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            sent.append({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
            token = id_token(nonce=asked["nonce"], auth_time=auth_time)
            return httpx.Response(200, json={"id_token": token, "access_token": "a", "token_type": "Bearer"})
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [JWK]})
        return httpx.Response(200, json=DISCOVERY)

    async def round_trip(max_age: str | None) -> Any:
        nonlocal asked
        request = {"client_id": "demo-web"} | ({"max_age": max_age} if max_age else {})
        went = await begin(uow, settings, eid(handler), request, now)
        asked = dict(parse_qsl(urlsplit(went.authorization_url).query))
        params = {"state": asked["state"], "code": "the-code", "iss": ISSUER}
        return await complete(uow, settings, eid(handler), params, went.browser_secret, client_ip="198.51.100.7",
                              now=now)  # fmt: skip

    asked: dict[str, str] = {}
    done = await round_trip(None)
    assert done.signed_in.auth_time.timestamp() == auth_time and done.request == {"client_id": "demo-web"}
    form = sent[0]
    assert form["grant_type"] == "authorization_code" and form["code"] == "the-code"
    verifier = form["code_verifier"].encode()
    assert base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode() == asked["code_challenge"]
    published = (await jwks(uow, settings, now))["keys"]
    header = pyjwt.get_unverified_header(form["client_assertion"])
    key = pyjwt.PyJWK(next(k for k in published if k["kid"] == header["kid"])).key
    assertion = pyjwt.decode(form["client_assertion"], key, algorithms=["RS256"], audience=DISCOVERY["token_endpoint"],
                             options={"verify_exp": False})  # fmt: skip
    assert assertion["iss"] == assertion["sub"] == "portal-identity" and assertion["jti"]
    assert assertion["exp"] - assertion["iat"] <= 60

    with pytest.raises(EidAnswerRefused, match="max_age"):  # the e-ID's sign-in is 2 minutes old
        await round_trip("30")
    assert (await round_trip("600")).signed_in.account_id == done.signed_in.account_id
