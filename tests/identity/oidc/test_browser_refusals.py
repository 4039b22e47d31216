"""What the browser-facing endpoints answer when a request cannot go on: their own HTML page,
never a redirect, with a status that says what went wrong. A well-formed reference to nothing
the provider knows (a client_id, an ID token hint) is a 404 page; a malformed request is a 400
page (the statuses the document states, ``tests/identity/test_openapi_rules.py``)."""

from __future__ import annotations

from tests.identity.oidc.conftest import REDIRECT, Provider, authorize_params, pkce
from tests.identity.oidc.test_tokens import signed_in_tokens


async def test_an_unknown_client_gets_a_404_page_and_no_redirect(provider: Provider) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge, client_id="no-such-client")
    async with provider.client() as browser:
        shown = await browser.get("/oauth2/authorize", params=params)
        posted = await browser.post("/oauth2/authorize", data={**params, "login": "x", "password": "y"})
        known = await browser.get("/oauth2/authorize", params=authorize_params(challenge))
        wrong_redirect = await browser.get(
            "/oauth2/authorize", params=authorize_params(challenge, redirect_uri=REDIRECT + "/elsewhere")
        )
    for answer in (shown, posted):
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
        assert "location" not in answer.headers and "Unknown or disabled client" in answer.text
    assert known.status_code == 200  # the same request for a registered client: the sign-in page
    # A registered client with a redirect URI it did not register: a 400 page, still no redirect.
    assert wrong_redirect.status_code == 400 and "location" not in wrong_redirect.headers


async def test_logout_tells_a_malformed_request_from_an_unknown_hint(provider: Provider) -> None:
    async with provider.client() as browser:
        tokens = await signed_in_tokens(browser)
        not_a_jwt = await browser.get("/oauth2/logout", params={"id_token_hint": "not a token"})
        foreign = await browser.get("/oauth2/logout", params={"id_token_hint": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"})
        unknown_client = await browser.get(
            "/oauth2/logout", params={"client_id": "no-such-client", "post_logout_redirect_uri": "https://a.example/"}
        )
        too_long = await browser.get("/oauth2/logout", params={"state": "s" * 1025})
        nobody_named = await browser.get("/oauth2/logout", params={"post_logout_redirect_uri": "https://a.example/"})
        posted_too_long = await browser.post("/oauth2/logout", data={"anything": "x" * 5000})
        right = await browser.post("/oauth2/logout", data={"id_token_hint": tokens["id_token"]})
    for answer in (not_a_jwt, too_long, nobody_named, posted_too_long):
        assert answer.status_code == 400 and answer.headers["content-type"].startswith("text/html"), answer.text
    for answer in (foreign, unknown_client):
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html"), answer.text
    assert all("location" not in a.headers for a in (not_a_jwt, foreign, unknown_client, too_long, nobody_named))
    assert right.status_code == 200


async def test_a_form_with_too_many_fields_is_refused_in_each_endpoints_own_format(provider: Provider) -> None:
    crowded = {f"field{n}": "x" for n in range(60)}
    async with provider.client() as browser:
        logout = await browser.post("/oauth2/logout", data=crowded)
        sign_in = await browser.post("/oauth2/authorize", data=crowded)
        token = await browser.post("/oauth2/token", data={**crowded, "grant_type": "client_credentials"})
    for page in (logout, sign_in):
        assert page.status_code == 400 and page.headers["content-type"].startswith("text/html"), page.text
    # The token endpoint keeps the OAuth error body (RFC 6749 §5.2) that clients read.
    assert token.status_code == 400 and token.headers["content-type"].startswith("application/json")
    assert token.json()["error"] == "invalid_request"
