"""Delivering filed dossiers to agency systems: pushed, signed, retried with backoff until the
agency takes them, never to a private address, never along a redirect; dead after the last
attempt until an operator redelivers; or pulled from the feed and acknowledged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from services.kit import webhooks
from services.kit.db import Database
from services.sync.domain.delivery import (
    ENDPOINT_URL_PATTERN,
    EndpointRefused,
    address_allowed,
    backoff,
    check_endpoint_url,
)
from services.sync.service import outbound
from services.sync.settings import SyncSettings
from tests.support.servers import serve
from tests.support.sync import H22, Sync, delivery_settings

SECRET = "agency-h22-shared-secret-0123456789abcdef"


def test_backoff_doubles_to_a_cap_over_hours() -> None:
    waits = [backoff(n).total_seconds() for n in range(1, 13)]
    assert waits[:4] == [30, 60, 120, 240] and max(waits) == 7200
    assert 9 * 3600 < sum(waits) < 11 * 3600  # twelve attempts span about ten hours
    with pytest.raises(ValueError):
        backoff(0)


@pytest.mark.parametrize(
    "url",
    ["http://agency.example/in", "https://user:pw@agency.example/in", "https://10.1.2.3/in", "https://127.0.0.1/in",
     "https://[::1]/in", "https://169.254.169.254/latest", "https://localhost/in", "https://agency.example/in?x=1",
     "ftp://agency.example/"],
)  # fmt: skip
def test_endpoints_that_could_reach_inside_are_refused(url: str) -> None:
    with pytest.raises(EndpointRefused):
        check_endpoint_url(url)


def test_public_https_endpoints_and_addresses_are_accepted() -> None:
    assert check_endpoint_url("https://motcua.quangninh.gov.vn/api/hoso") == "https://motcua.quangninh.gov.vn/api/hoso"
    assert address_allowed("203.113.131.1") and not address_allowed("192.168.1.10")
    assert (
        not address_allowed("fd00::1")
        and not address_allowed("not-an-ip")
        and address_allowed("10.0.0.1", allow_private=True)
    )


@pytest.mark.parametrize(
    "url",
    ["https://203.113.131.1/in", "https://[2001:4860:4860::8888]/in", "https://agency/in", "https://agency_1.example/in",
     "https://agency.example/a b", "https://agency.example.123/in", "HTTPS://agency.example/in"],
)  # fmt: skip
def test_outside_development_an_endpoint_names_its_host_by_a_dns_name(url: str) -> None:
    with pytest.raises(EndpointRefused, match="DNS name"):
        check_endpoint_url(url)
    # Development calls the local agency simulator by its address.
    assert check_endpoint_url("http://127.0.0.1:8011/in", allow_http=True, allow_private=True)


@examples(max_examples=300, derandomize=True, database=None, deadline=None)
@given(url=st.from_regex(ENDPOINT_URL_PATTERN, fullmatch=True))
def test_every_url_the_document_calls_valid_is_registered(url: str) -> None:
    # The pattern is the document's (the push endpoint's url): what it admits, the server takes,
    # but for the localhost names its description excludes (RFC 6761).
    if url.rstrip("/").split("/")[2].split(":")[0].rstrip(".").lower().endswith("localhost"):
        return
    assert check_endpoint_url(url) == url


def submitted(code: str, agency: str = H22) -> dict[str, Any]:
    return {
        "dossier_id": str(uuid.uuid4()), "code": code, "service_id": str(uuid.uuid4()), "service_version": 1,
        "procedure_code": "1.002804", "procedure_name": "Cấp đổi giấy phép lái xe", "agency_code": agency,
        "routing_target": f"motcua:{agency}",
        "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
        "form": {"ho_ten": "Nguyễn Văn An"}, "attachments": [], "fees": [],
        "received_at": "2025-12-03T02:00:00+00:00", "appointment_date": "2025-12-10",
    }  # fmt: skip


class Agency:
    """An agency system on loopback: answers what it is told, checks every signature."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.received: list[tuple[str, str]] = []  # (delivery id, dossier code)
        self.app = FastAPI()
        self.followed_redirect = False

        @self.app.post("/in")
        async def take(request: Request) -> Response:
            body = await request.body()
            webhooks.verify(request.headers.get("x-signature"), body, [SECRET],
                            now=int(datetime.now(UTC).timestamp()))  # fmt: skip
            status = self.answers.pop(0) if self.answers else 200
            if status == 200:
                self.received.append((request.headers["x-delivery-id"], request.headers["x-dossier-id"]))
            headers = {"Location": "/elsewhere"} if status == 302 else None
            return Response(status_code=status, headers=headers)

        @self.app.post("/elsewhere")
        async def elsewhere() -> Response:
            self.followed_redirect = True
            return Response(status_code=200)


@pytest.fixture
def agency() -> Iterator[tuple[Agency, str]]:
    system = Agency()
    with serve(system.app) as url:
        yield system, url


async def setup(s: Sync, settings: SyncSettings, url: str | None, mode: str = "push", count: int = 1) -> list[dict]:
    db = s.db()
    try:
        async with db.transaction() as uow:
            await outbound.register_endpoint(uow, settings, H22, mode, url, [SECRET])
            made = [submitted(f"{H22}-251203-{i:04d}") for i in range(1, count + 1)]
            for data in made:
                await outbound.record_submission(uow, data)
                await outbound.record_submission(uow, data)  # the event delivered twice
        return made
    finally:
        await db.dispose()


async def round_at(db: Database, settings: SyncSettings, minutes: float) -> dict[str, int]:
    return await outbound.deliver_due(db, settings, now=datetime.now(UTC) + timedelta(minutes=minutes))


@pytest.mark.integration
async def test_an_agency_that_is_down_gets_its_dossiers_later_once_in_effect(
    sync_api: Sync, agency: tuple[Agency, str]
) -> None:
    system, url = agency
    settings = delivery_settings(sync_api)
    made = await setup(sync_api, settings, f"{url}/in", count=2)
    system.answers = [503, 503]  # down for the first round
    db = sync_api.db()
    try:
        assert await round_at(db, settings, 0) == {"retrying": 2}
        assert await round_at(db, settings, 0) == {}  # not due before its backoff
        assert await round_at(db, settings, 1) == {"delivered": 2}
        assert await round_at(db, settings, 600) == {}
    finally:
        await db.dispose()
    assert sorted(code for _, code in system.received) == sorted(d["dossier_id"] for d in made)
    async with sync_api.client() as api:
        detail = await api.get("/deliveries/1", headers=sync_api.admin())
    assert [h["status_code"] for h in detail.json()["history"]] == [503, 200]


@pytest.mark.integration
async def test_redirects_are_not_followed_and_the_last_failure_is_dead_until_redelivered(
    sync_api: Sync, agency: tuple[Agency, str]
) -> None:
    system, url = agency
    settings = delivery_settings(sync_api)
    await setup(sync_api, settings, f"{url}/in")
    system.answers = [302, 500, 500]
    db = sync_api.db()
    try:
        assert await round_at(db, settings, 0) == {"retrying": 1}
        assert await round_at(db, settings, 5) == {"retrying": 1}
        assert await round_at(db, settings, 30) == {"dead": 1}
        assert await round_at(db, settings, 600) == {}
        async with sync_api.client() as api:
            failing = (await api.get("/deliveries/failing", headers=sync_api.admin())).json()["agencies"]
            assert [(f["agency_code"], f["dead"]) for f in failing] == [(H22, 1)]
            detail = (await api.get("/deliveries/1", headers=sync_api.admin())).json()
            assert "redirect" in detail["history"][0]["error"]
            assert (await api.post(f"/agencies/{H22}/redeliver", headers=sync_api.province(H22))).status_code == 403
            again = await api.post(f"/agencies/{H22}/redeliver", headers=sync_api.admin())
            assert again.json() == {"redelivering": 1}
        assert await round_at(db, settings, 0) == {"delivered": 1}
    finally:
        await db.dispose()
    assert not system.followed_redirect and len(system.received) == 1


@pytest.mark.integration
async def test_a_private_address_is_never_called_and_registration_refuses_it(
    sync_api: Sync, agency: tuple[Agency, str]
) -> None:
    system, url = agency
    await setup(sync_api, delivery_settings(sync_api), f"{url}/in")  # registered while development allowed it
    production_like = delivery_settings(sync_api, dev_allow_private_endpoints=False)
    db = sync_api.db()
    try:
        assert await round_at(db, production_like, 0) == {"retrying": 1}
    finally:
        await db.dispose()
    assert system.received == []
    async with sync_api.client() as api:
        detail = (await api.get("/deliveries/1", headers=sync_api.admin())).json()
        refused = await api.put(f"/agencies/{H22}/endpoint", headers=sync_api.admin(),
                                json={"mode": "push", "url": f"{url}/in", "secrets": [SECRET]})  # fmt: skip
    assert "non-public address 127.0.0.1" in detail["history"][0]["error"]
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "body.url"


@pytest.mark.integration
async def test_an_agency_that_pulls_takes_its_dossiers_from_the_feed(sync_api: Sync) -> None:
    made = await setup(sync_api, delivery_settings(sync_api), None, mode="pull", count=3)
    async with sync_api.client() as api:
        answer = await api.get("/feed", params={"limit": 2}, headers=sync_api.province(H22))
        first = answer.json()
        assert [i["dossier_id"] for i in first["items"]] == [d["dossier_id"] for d in made[:2]]
        assert first["next"] == str(first["items"][-1]["delivery_id"])
        assert answer.headers["link"] == f'</api/v1/sync/feed?limit=2&cursor={first["next"]}>; rel="next"'
        rest = (await api.get("/feed", params={"cursor": first["next"]}, headers=sync_api.province(H22))).json()
        assert [i["dossier_code"] for i in rest["items"]] == [made[2]["code"]]
        # The page after the last item is empty, with no next (nothing after the cursor yet).
        end = await api.get("/feed", params={"cursor": rest["next"]}, headers=sync_api.province(H22))
        assert end.json() == {"items": [], "next": None} and "link" not in end.headers
        # A client written against the earlier feed still pages by ``after``.
        legacy = (await api.get("/feed", params={"after": first["next"]}, headers=sync_api.province(H22))).json()
        assert legacy == rest
        for bad in ({"cursor": "abc"}, {"cursor": "9" * 19}, {"after": "9" * 40}, {"limit": 201}):
            refused = await api.get("/feed", params=bad, headers=sync_api.province(H22))
            assert refused.status_code == 422, bad
        other = (await api.get("/feed", headers=sync_api.province("000.00.01.H29", client="h29"))).json()
        assert other["items"] == []
        ids = [i["delivery_id"] for i in first["items"]]
        stolen = await api.post("/feed/ack", headers=sync_api.province("000.00.01.H29", client="h29"),
                                json={"delivery_ids": ids})  # fmt: skip
        assert stolen.json() == {"acknowledged": []}
        acked = await api.post("/feed/ack", headers=sync_api.province(H22), json={"delivery_ids": ids})
        assert acked.json() == {"acknowledged": ids}
        left = (await api.get("/feed", headers=sync_api.province(H22))).json()
    assert [i["dossier_code"] for i in left["items"]] == [made[2]["code"]]
