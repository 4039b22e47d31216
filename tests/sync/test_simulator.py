"""The sandbox agency simulator behaves as a real agency system would: a status push answered
429 is tried again after ``Retry-After`` (bounded), not dropped; a supplement or a withdrawal
delivered to it is kept, not worked on as a new dossier."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from deploy.sandbox.agency import AgencySettings, Simulator, create_app, retry_after
from services.kit import webhooks
from tests.support.servers import serve

H22 = "000.00.01.H22"
SECRET = "simulator-test-secret-0123456789abcdef"


class Portal:
    """The portal's sync API as the simulator meets it: busy for the first ``busy`` pushes."""

    def __init__(self, busy: int, retry_after: str = "0") -> None:
        self.busy, self.calls = busy, 0
        self.app = FastAPI()

        @self.app.post("/api/v1/sync/compat")
        async def compat(request: Request) -> Response:
            self.calls += 1
            await request.json()
            if self.calls <= self.busy:
                return Response(status_code=429, headers={"Retry-After": retry_after})
            body = b'{"results": [{"outcome": "accepted"}]}'
            return Response(content=body, media_type="application/json")


def simulator(url: str, **settings: Any) -> Simulator:
    values = {"portal_url": url, "statuses": [2], "step_seconds": 0, "agency_code": H22, **settings}
    return Simulator(AgencySettings(**values), token_source=lambda: "token")


async def test_a_push_answered_429_is_tried_again_after_retry_after() -> None:
    portal = Portal(busy=2)
    with serve(portal.app) as url:
        agency = simulator(url)
        await agency.work_on({"code": f"{H22}-251203-0001", "agency_code": H22})
    assert portal.calls == 3
    assert [(p["status"], p["answer"], p["outcome"]) for p in agency.pushed] == [(2, 200, "accepted")]


async def test_the_retries_are_bounded() -> None:
    portal = Portal(busy=100)
    with serve(portal.app) as url:
        agency = simulator(url, retries=2)
        await agency.work_on({"code": f"{H22}-251203-0001", "agency_code": H22})
    assert portal.calls == 3 and [p["answer"] for p in agency.pushed] == [429]


def test_retry_after_reads_seconds_and_dates_within_the_cap() -> None:
    now = datetime(2025, 12, 3, 2, 0, tzinfo=UTC)
    assert retry_after("7", cap=60) == 7 and retry_after("7", cap=2) == 2
    assert retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), cap=60, now=now) == 30
    assert retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), cap=60, now=now) == 0
    assert retry_after(None, cap=60) == 1 and retry_after("soon", cap=60) == 1 and retry_after("-3", cap=60) == 1


@pytest.mark.parametrize("kind", ["supplement", "withdrawal"])
async def test_a_supplement_or_a_withdrawal_is_kept_not_worked_on(kind: str) -> None:
    app = create_app(AgencySettings(secret=SECRET, statuses=[2], step_seconds=0), token_source=lambda: "token")
    body = b'{"code": "000.00.01.H22-251203-0001"}'
    headers = {"X-Signature": webhooks.sign(body, SECRET, int(time.time())), "X-Delivery-Id": "9",
               "X-Delivery-Kind": kind, "X-Dossier-Id": "d-1", "Content-Type": "application/json"}  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agency") as client:
        taken = await client.post("/in", content=body, headers=headers)
        again = await client.post("/in", content=body, headers=headers)
        received = (await client.get("/received")).json()
    assert taken.json() == {"result": "received"} and again.json() == {"result": "already received"}
    assert received == {"dossiers": [], "pushed": [], "followups": [{"kind": kind, "dossier_id": "d-1"}]}
