"""The authorization endpoint and the sign-in page: what is refused before any redirect, what is
answered to the client, levels (``acr_values``), ``prompt`` and ``max_age``, and the form's
protection against cross-site posts."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.sandbox_eid.conftest import (
    EC_REDIRECT,
    OTP,
    PASSWORD,
    REDIRECT,
    Eid,
    authorize_params,
    pkce,
    query,
    read_form,
    sign_in,
)  # fmt: skip

LEVEL1, LEVEL2 = "urn:vn:eid:level1", "urn:vn:eid:level2"


def authorize(eid: Eid, params: dict[str, str], **cookies: str) -> httpx.Response:
    return httpx.get(eid.meta["authorization_endpoint"], params=params, cookies=cookies)


@pytest.mark.parametrize(
    "change",
    [{"client_id": "unknown"}, {"redirect_uri": REDIRECT + "/more"}, {"redirect_uri": EC_REDIRECT},
     {"redirect_uri": REDIRECT.upper()}, {"client_id": ""}],
)  # fmt: skip
def test_no_redirect_for_an_unknown_client_or_redirect_uri(eid: Eid, change: dict[str, str]) -> None:
    _, challenge = pkce()
    answer = authorize(eid, authorize_params(challenge, **change))
    assert answer.status_code == 400 and "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("change", "error"),
    [({"response_type": "token"}, "unsupported_response_type"),
     ({"scope": "profile"}, "invalid_scope"),
     ({"code_challenge_method": "plain"}, "invalid_request"),
     ({"code_challenge": "short"}, "invalid_request"),
     ({"max_age": "soon"}, "invalid_request"),
     ({"prompt": "none login"}, "invalid_request"),
     ({"request": "eyJ.x.y"}, "request_not_supported"),
     ({"response_mode": "fragment"}, "invalid_request")],
)  # fmt: skip
def test_bad_requests_go_back_to_the_client_with_an_error(eid: Eid, change: dict[str, str], error: str) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge, **change)
    answer = authorize(eid, params)
    assert answer.status_code == 303
    back = query(answer.headers["location"])
    assert back["error"] == error and back["state"] == params["state"] and back["iss"] == eid.url


def test_pkce_is_required(eid: Eid) -> None:
    params = authorize_params(None)
    back = query(authorize(eid, params).headers["location"])
    assert back["error"] == "invalid_request" and "code" not in back


async def test_a_level_1_person_cannot_meet_a_level_2_request(eid: Eid) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge, acr_values=LEVEL2)
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        answer = await sign_in(browser, eid, params, "an")
    back = query(answer.headers["location"])
    assert back["error"] == "unmet_authentication_requirements" and "code" not in back
    assert back["state"] == params["state"]


async def test_level_2_asks_for_the_otp(eid: Eid) -> None:
    _, challenge = pkce()
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        answer = await sign_in(browser, eid, authorize_params(challenge), "binh", otp="000000")
        assert answer.status_code == 401 and "OTP" in read_form(answer.text).alert
        wrong = await sign_in(browser, eid, authorize_params(challenge), "binh", password="nope")
        assert wrong.status_code == 401 and read_form(wrong.text).alert


async def test_a_typed_identifier_signs_that_person_in(eid: Eid) -> None:
    _, challenge = pkce()
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        page = await browser.get(eid.meta["authorization_endpoint"], params=authorize_params(challenge))
        form = read_form(page.text)
        answer = await browser.post(httpx.URL(eid.url).join(form.action), data=form.hidden | {
            "identifier": "048080004321", "password": PASSWORD, "otp": OTP})  # fmt: skip
    assert answer.status_code == 303 and "code" in query(answer.headers["location"])


async def test_the_session_prompt_and_max_age(eid: Eid) -> None:
    _, challenge = pkce()
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        first = await sign_in(browser, eid, authorize_params(challenge), "an")
        assert "code" in query(first.headers["location"])
        endpoint = eid.meta["authorization_endpoint"]
        # Signed in already: a code at once, without the page.
        again = await browser.get(endpoint, params=authorize_params(challenge))
        assert again.status_code == 303 and "code" in query(again.headers["location"])
        none = await browser.get(endpoint, params=authorize_params(challenge, prompt="none"))
        assert "code" in query(none.headers["location"])
        # prompt=login and max_age=0 ask again; a level-2 request is more than the session has.
        for extra in ({"prompt": "login"}, {"max_age": "0"}, {"acr_values": LEVEL2}):
            page = await browser.get(endpoint, params=authorize_params(challenge, **extra))
            assert page.status_code == 200 and read_form(page.text).hidden["form_token"], extra
        time.sleep(1.1)
        stale = await browser.get(endpoint, params=authorize_params(challenge, prompt="none", max_age="1"))
        assert query(stale.headers["location"])["error"] == "login_required"
    # Another browser has no session.
    fresh = authorize(eid, authorize_params(challenge, prompt="none"))
    assert query(fresh.headers["location"])["error"] == "login_required"


async def test_the_form_belongs_to_its_request_and_its_browser(eid: Eid) -> None:
    _, challenge = pkce()
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        page = await browser.get(eid.meta["authorization_endpoint"], params=authorize_params(challenge))
        form = read_form(page.text)
        fields = form.hidden | {"person": "an", "password": PASSWORD}
        target = httpx.URL(eid.url).join(form.action)
        # Another site posting it from a browser that never asked: no cookie of this request.
        async with httpx.AsyncClient(follow_redirects=False) as elsewhere:
            assert (await elsewhere.post(target, data=fields)).status_code == 403
        forged = await browser.post(target, data=fields | {"form_token": "forged"})
        assert forged.status_code == 403
        answer = await browser.post(target, data=fields)
        assert answer.status_code == 303
        # Used up.
        assert (await browser.post(target, data=fields)).status_code == 400


def test_the_sign_in_page_escapes_and_protects_itself(eid: Eid) -> None:
    _, challenge = pkce()
    page = authorize(eid, authorize_params(challenge, state="<script>x</script>"))
    assert page.status_code == 200 and "<script>" not in page.text
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    # Browsers check form-action on the redirect after the post too: the client's origin, nothing else.
    assert "form-action 'self' http://127.0.0.1:9;" in policy
    assert page.headers["cache-control"] == "no-store"
    assert "Nguyễn Văn An" in page.text
