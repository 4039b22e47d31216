"""The rate limit in front of the sign-in and logout pages answers a page, as the OpenAPI
document says those operations answer (text/html); a client asking for JSON gets a problem."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway.gateway_harness import Stack

pytestmark = pytest.mark.integration


async def _over_the_limit(client: httpx.AsyncClient, path: str, address: str, accept: str) -> httpx.Response:
    headers = {"X-Forwarded-For": address, "Accept": accept}
    for _ in range(2):  # the burst
        assert (await client.get(path, headers=headers)).status_code != 429
    return await client.get(path, headers=headers)


@pytest.mark.parametrize("path", ["/oauth2/authorize", "/oauth2/logout"])
async def test_a_browser_over_the_limit_on_a_sign_in_page_gets_a_page(stack: Stack, path: str) -> None:
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    async with httpx.AsyncClient(base_url=stack.limited, timeout=10) as client:
        page = await _over_the_limit(client, path, "198.51.100.71" if "authorize" in path else "198.51.100.72",
                                     browser_accept)  # fmt: skip
        anything = await _over_the_limit(client, path, "198.51.100.73" if "authorize" in path else "198.51.100.74",
                                         "*/*")  # fmt: skip
        api_client = await _over_the_limit(client, path, "198.51.100.75" if "authorize" in path else "198.51.100.76",
                                           "application/problem+json")  # fmt: skip
    for answer in (page, anything):
        assert answer.status_code == 429
        assert answer.headers["content-type"].startswith("text/html")
        assert 55 <= int(answer.headers["retry-after"]) <= 60
        assert answer.headers["retry-after"] in answer.text and "<html" in answer.text
        assert answer.headers["cache-control"] == "no-store"
    assert api_client.status_code == 429
    assert api_client.headers["content-type"] == "application/problem+json"
    assert api_client.json()["type"] == "/problems/rate-limited"


async def test_an_api_path_over_the_limit_still_answers_a_problem(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.limited, timeout=10) as client:
        refused = await _over_the_limit(client, "/api/v1/catalogue/items", "198.51.100.77", "text/html")
    assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
