"""Keyset pagination: exact boundaries, stable order under equal ranks, refused cursors and limits."""

from __future__ import annotations

import httpx
import pytest

from services.catalogue.service.fixtures import OFFERS

pytestmark = pytest.mark.integration

TOTAL = sum(len(agencies) for agencies, _ in OFFERS.values())


async def walk(api: httpx.AsyncClient, limit: int, **params: object) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = await api.get("/services", params=query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next"]
        if cursor is None:
            return pages


async def test_a_page_of_exactly_all_results_has_no_next_cursor(api: httpx.AsyncClient) -> None:
    assert 7 < TOTAL <= 100
    pages = await walk(api, TOTAL)
    assert [len(p) for p in pages] == [TOTAL]


async def test_one_fewer_than_all_leaves_a_last_page_of_one(api: httpx.AsyncClient) -> None:
    pages = await walk(api, TOTAL - 1)
    assert [len(p) for p in pages] == [TOTAL - 1, 1]


async def test_pages_cover_every_result_once_in_a_stable_order_under_equal_ranks(api: httpx.AsyncClient) -> None:
    # Without words every rank is equal: the id breaks the tie.
    pages = await walk(api, 7)
    assert [len(p) for p in pages] == [7] * (TOTAL // 7) + ([TOTAL % 7] if TOTAL % 7 else [])
    flat = [i for page in pages for i in page]
    assert flat == sorted(flat) and len(set(flat)) == TOTAL


async def test_paging_ranked_results_gives_the_single_page_order(api: httpx.AsyncClient) -> None:
    # The five renewal services tie on rank; pages of two must not skip or repeat them.
    whole = (await walk(api, 100, q="cap doi giay phep lai xe"))[0]
    paged = [i for page in await walk(api, 2, q="cap doi giay phep lai xe") for i in page]
    assert paged == whole and len(whole) > 5


async def test_the_default_page_size_is_20(api: httpx.AsyncClient) -> None:
    body = (await api.get("/services")).json()
    assert len(body["items"]) == 20
    assert body["next"] is not None


async def test_an_empty_result_has_no_cursor(api: httpx.AsyncClient) -> None:
    body = (await api.get("/services", params={"agency": "000.00.09.H22"})).json()
    assert body == {"items": [], "next": None}


async def test_a_tampered_cursor_is_a_400_problem(api: httpx.AsyncClient) -> None:
    cursor = (await api.get("/services", params={"limit": 3})).json()["next"]
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    for bad in (tampered, "not-a-cursor"):
        answer = await api.get("/services", params={"limit": 3, "cursor": bad})
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "/problems/bad-request"
    # Characters no cursor has are refused by the declared pattern, before any decoding.
    answer = await api.get("/services", params={"limit": 3, "cursor": "!!!"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "query.cursor"


async def test_the_next_page_is_linked_and_pages_stay_cacheable(api: httpx.AsyncClient) -> None:
    first = await api.get("/services", params={"q": "giay phep", "limit": 2})
    cursor = first.json()["next"]
    assert cursor is not None
    link = first.headers["link"]
    assert link.startswith("</api/v1/catalogue/services?") and link.endswith('>; rel="next"')
    following = await api.get(link[1 : link.index(">")].removeprefix("/api/v1/catalogue"))
    assert (
        following.json() == (await api.get("/services", params={"q": "giay phep", "limit": 2, "cursor": cursor})).json()
    )
    assert first.headers["etag"] and first.headers["cache-control"] == "public, max-age=60"
    again = await api.get(
        "/services", params={"q": "giay phep", "limit": 2}, headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    last = await api.get("/services", params={"agency": "000.00.01.H22", "limit": 100})
    assert last.json()["next"] is None and "link" not in last.headers


async def test_a_cursor_of_another_query_is_refused(api: httpx.AsyncClient) -> None:
    cursor = (await api.get("/services", params={"limit": 3})).json()["next"]
    answer = await api.get("/services", params={"limit": 3, "cursor": cursor, "sector": "HT"})
    assert answer.status_code == 400
    assert answer.json()["detail"] == "The cursor belongs to another query."


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
async def test_limits_outside_1_to_100_are_refused(api: httpx.AsyncClient, limit: str) -> None:
    answer = await api.get("/services", params={"limit": limit})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "query.limit"


async def test_paging_procedures_with_words_gives_the_single_page_order(api: httpx.AsyncClient) -> None:
    whole = (await api.get("/procedures", params={"q": "cap", "limit": 100})).json()["items"]
    paged, cursor = [], None
    while True:
        params = {"q": "cap", "limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await api.get("/procedures", params=params)).json()
        paged += body["items"]
        cursor = body["next"]
        if cursor is None:
            break
    assert [p["code"] for p in paged] == [p["code"] for p in whole] and len(whole) > 3
