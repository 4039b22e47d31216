"""Back-channel logout on the fake unit: the logout token's claims, which logout URIs a client may
register, who is told when a session or an account ends, and how delivery retries and gives up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.identity.domain.assurance import AccountKind, Assurance, SignedIn
from services.identity.domain.logout import (
    BACKCHANNEL_LOGOUT_EVENT,
    LogoutReason,
    backchannel_uri_problem,
    logout_token_claims,
    retry_delay,
)
from services.identity.domain.oauth import ClientKind, OAuthError, pkce_s256
from services.identity.service import accounts, authorize, backchannel, clients, keys, tokens
from services.kit import jose
from tests.identity.fakes import FakeIdentityUnitOfWork
from tests.identity.unit.conftest import add_citizen, make_settings

SETTINGS = make_settings(oidc_issuer="http://issuer.test", backchannel_max_attempts=3)
VERIFIER = "v" * 43
LOGOUT_URI = "https://rp.test/backchannel-logout"


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


def test_a_logout_token_names_the_person_and_the_session_and_never_a_nonce(now: datetime) -> None:
    claims = logout_token_claims(issuer="http://issuer.test", client_id="rp", subject="citizen-1", sid="s-1", now=now)
    assert claims["iss"] == "http://issuer.test" and claims["aud"] == "rp"
    assert (claims["sub"], claims["sid"]) == ("citizen-1", "s-1")
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert claims["iat"] == int(now.timestamp()) and claims["exp"] == claims["iat"] + 120
    assert "nonce" not in claims and len(str(claims["jti"])) >= 32
    other = logout_token_claims(issuer="i", client_id="rp", subject="citizen-1", sid=None, now=now)
    assert "sid" not in other and other["jti"] != claims["jti"]


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("https://portal.quangninh.gov.vn/oidc/backchannel?tenant=1", True),
        ("http://127.0.0.1:8766/backchannel-logout", True),
        ("http://localhost:9000/logout", True),
        ("http://portal.quangninh.gov.vn/logout", False),  # http only to this machine
        ("https://rp.test/logout#frag", False),
        ("https://user:pw@rp.test/logout", False),
        ("ftp://rp.test/logout", False),
        ("/relative/logout", False),
        ("https://rp.test:99999/logout", False),
        ("https://rp.test/" + "a" * 2000, False),
    ],
)
def test_which_logout_uris_a_client_may_register(uri: str, allowed: bool) -> None:
    assert (backchannel_uri_problem(uri) is None) is allowed


def test_retries_wait_longer_each_time_up_to_the_cap() -> None:
    delays = [retry_delay(n, base_seconds=5, cap_seconds=60).total_seconds() for n in range(1, 7)]
    assert delays == [5, 10, 20, 40, 60, 60]


async def test_a_client_without_sign_in_or_with_a_bad_uri_cannot_register_one(uow: FakeIdentityUnitOfWork) -> None:
    common = {"name": "RP", "kind": ClientKind.CONFIDENTIAL}
    with pytest.raises(OAuthError, match="sign people in"):
        await clients.create_client(uow, client_id="m2m", grant_types=["client_credentials"],
                                    backchannel_logout_uri=LOGOUT_URI, **common)  # fmt: skip
    with pytest.raises(OAuthError, match="without credentials or fragment"):
        await clients.create_client(uow, client_id="rp", grant_types=["authorization_code"],
                                    redirect_uris=["https://rp.test/cb"], backchannel_logout_uri=LOGOUT_URI + "#x",
                                    **common)  # fmt: skip
    with pytest.raises(OAuthError, match="needs a logout URI"):
        await clients.create_client(uow, client_id="rp", grant_types=["authorization_code"],
                                    redirect_uris=["https://rp.test/cb"], backchannel_logout_session_required=True,
                                    **common)  # fmt: skip
    assert uow.clients.rows == {}


async def _client(uow: FakeIdentityUnitOfWork, client_id: str, logout_uri: str | None) -> None:
    await clients.create_client(
        uow, client_id=client_id, name=client_id, kind=ClientKind.CONFIDENTIAL,
        grant_types=["authorization_code", "refresh_token"], redirect_uris=[f"https://{client_id}.test/cb"],
        backchannel_logout_uri=logout_uri,
    )  # fmt: skip


async def _signed_in_to(uow: FakeIdentityUnitOfWork, cookie: str | None, client_ids: list[str], now: datetime):  # type: ignore[no-untyped-def]
    """One browser session (a new one unless ``cookie``) that signs in to each client; the
    cookie and the token answers."""
    if cookie is None:
        signed_in = SignedIn("citizen-1", AccountKind.CITIZEN, Assurance.PASSWORD, ("pwd",), now)
        cookie = await authorize.start_session(uow, SETTINGS, signed_in, now)
    session = await authorize.current_session(uow, cookie, now)
    assert session is not None and session.sid
    answers = []
    for client_id in client_ids:
        request = await authorize.parse_request(uow, {
            "client_id": client_id, "redirect_uri": f"https://{client_id}.test/cb", "response_type": "code",
            "scope": "openid", "code_challenge": pkce_s256(VERIFIER), "code_challenge_method": "S256",
        })  # fmt: skip
        code = await authorize.issue_code(uow, SETTINGS, request, session, now)
        client = await clients.get_client(uow, client_id)
        form = {"code": code, "redirect_uri": f"https://{client_id}.test/cb", "code_verifier": VERIFIER}
        answers.append(await tokens.exchange_code(uow, SETTINGS, client, form, now))
    return cookie, answers


async def test_id_tokens_carry_the_session_id_and_signing_out_tells_each_client_with_a_logout_uri(
    uow: FakeIdentityUnitOfWork, now: datetime
) -> None:
    await keys.ensure_signing_key(uow, SETTINGS, now - timedelta(minutes=1))
    await add_citizen(uow, SETTINGS)
    await _client(uow, "rp-a", LOGOUT_URI)
    await _client(uow, "rp-b", "https://rp-b.test/logout")
    await _client(uow, "rp-silent", None)
    cookie, answers = await _signed_in_to(uow, None, ["rp-a", "rp-b", "rp-silent"], now)
    sids = {jose.unverified_claims(answer.id_token or "")["sid"] for answer in answers}
    assert len(sids) == 1  # one browser session, one sid, whatever the client
    [sid] = sids
    assert sid != cookie and sid not in cookie
    refreshed = await tokens.refresh(uow, SETTINGS, await clients.get_client(uow, "rp-a"),
                                     {"refresh_token": answers[0].refresh_token or ""}, now)  # fmt: skip
    assert jose.unverified_claims(refreshed.id_token or "")["sid"] == sid

    await authorize.end_session(uow, SETTINGS, {}, cookie, now)
    queued = {(p.client_id, p.uri, p.sid, p.reason) for p in uow.backchannel.queued}
    assert queued == {("rp-a", LOGOUT_URI, sid, "signed-out"), ("rp-b", "https://rp-b.test/logout", sid, "signed-out")}
    await authorize.end_session(uow, SETTINGS, {}, cookie, now)  # signing out again tells nobody again
    assert len(uow.backchannel.queued) == 2


async def test_locking_the_account_tells_every_session_once_and_a_disabled_client_never(
    uow: FakeIdentityUnitOfWork, now: datetime
) -> None:
    await keys.ensure_signing_key(uow, SETTINGS, now - timedelta(minutes=1))
    await add_citizen(uow, SETTINGS)
    await _client(uow, "rp-a", LOGOUT_URI)
    await _client(uow, "rp-gone", "https://rp-gone.test/logout")
    await _signed_in_to(uow, None, ["rp-a", "rp-gone"], now)
    await _signed_in_to(uow, None, ["rp-a"], now)  # a second browser
    await clients.disable_client(uow, "rp-gone", now)

    await accounts.lock_account(uow, account_id="citizen-1", now=now)
    assert sorted((p.client_id, p.reason) for p in uow.backchannel.queued) == [("rp-a", "locked"), ("rp-a", "locked")]
    assert len({p.sid for p in uow.backchannel.queued}) == 2
    await accounts.unlock_account(uow, account_id="citizen-1", now=now)
    await accounts.lock_account(uow, account_id="citizen-1", now=now)
    assert len(uow.backchannel.queued) == 2
    assert uow.backchannel.sessions == {}


def _transport(answers: list[httpx.Response | Exception], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle)


async def test_delivery_posts_a_signed_form_retries_failures_and_gives_up_after_the_last_attempt(
    uow: FakeIdentityUnitOfWork, now: datetime
) -> None:
    await keys.ensure_signing_key(uow, SETTINGS, now - timedelta(minutes=1))
    await add_citizen(uow, SETTINGS)
    await _client(uow, "rp-a", LOGOUT_URI)
    await _signed_in_to(uow, None, ["rp-a"], now)
    await backchannel.account_ended(uow, "citizen-1", LogoutReason.DELETED, now)
    seen: list[httpx.Request] = []
    answers: list[httpx.Response | Exception] = [
        httpx.Response(302, headers={"Location": "https://elsewhere.test/"}),  # never followed
        httpx.ConnectTimeout("timed out"),
        httpx.Response(503),
    ]
    async with httpx.AsyncClient(transport=_transport(answers, seen), follow_redirects=False) as http:
        outcomes = [await backchannel.deliver_logouts(uow, SETTINGS, http, now) for _ in range(3)]
    assert [o for o in outcomes] == [{"delivered": 0, "retry": 1, "abandoned": 0}] * 2 + [
        {"delivered": 0, "retry": 0, "abandoned": 1}
    ]
    assert [str(r.url) for r in seen] == [LOGOUT_URI] * 3  # the redirect was not followed
    assert seen[0].headers["content-type"] == "application/x-www-form-urlencoded"
    token = httpx.QueryParams(seen[0].content.decode())["logout_token"]
    assert jose.unverified_header(token)["typ"] == "logout+jwt"
    claims = jose.unverified_claims(token)
    assert claims["aud"] == "rp-a" and claims["sub"] == "citizen-1" and "sid" in claims
    tokens_sent = [httpx.QueryParams(r.content.decode())["logout_token"] for r in seen]
    assert len({jose.unverified_claims(t)["jti"] for t in tokens_sent}) == 3  # a fresh token each attempt
    assert list(uow.backchannel.outcomes.values()) == ["abandoned"]


async def test_a_delivered_logout_is_not_sent_again(uow: FakeIdentityUnitOfWork, now: datetime) -> None:
    await keys.ensure_signing_key(uow, SETTINGS, now - timedelta(minutes=1))
    await add_citizen(uow, SETTINGS)
    await _client(uow, "rp-a", LOGOUT_URI)
    cookie, _ = await _signed_in_to(uow, None, ["rp-a"], now)
    await authorize.end_session(uow, SETTINGS, {}, cookie, now)
    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=_transport([httpx.Response(200)], seen)) as http:
        assert await backchannel.deliver_logouts(uow, SETTINGS, http, now) == {"delivered": 1, "retry": 0,
                                                                               "abandoned": 0}  # fmt: skip
        assert await backchannel.deliver_logouts(uow, SETTINGS, http, now) == {"delivered": 0, "retry": 0,
                                                                               "abandoned": 0}  # fmt: skip
    assert len(seen) == 1


async def test_production_refuses_plain_http_logout_uris(uow: FakeIdentityUnitOfWork, now: datetime) -> None:
    production = SETTINGS.model_copy(update={"environment": "production"})
    await keys.ensure_signing_key(uow, SETTINGS, now - timedelta(minutes=1))
    await add_citizen(uow, SETTINGS)
    await _client(uow, "rp-a", "http://127.0.0.1:8766/backchannel-logout")
    cookie, _ = await _signed_in_to(uow, None, ["rp-a"], now)
    await authorize.end_session(uow, SETTINGS, {}, cookie, now)
    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=_transport([], seen)) as http:
        outcome = await backchannel.deliver_logouts(uow, production, http, now)
    assert outcome == {"delivered": 0, "retry": 0, "abandoned": 1} and seen == []
