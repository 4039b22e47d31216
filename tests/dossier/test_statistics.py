"""The public statistics against the dossiers that exist: the events the service wrote, delivered
shuffled and partly twice, folded into the read model, give the figures an independent count
over the dossier tables gives; and the endpoint is public, cacheable and bounded."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from services.dossier.adapters.tables import attachments, dossier_history, dossiers, ratings
from services.dossier.service import statistics
from services.kit.db import Database
from services.kit.tables import outbox
from tests.dossier.test_submission import rows
from tests.dossier.test_tracking import (
    ASSESSED,
    Clock,
    described,
    filed,
    pay,
    payment,
    record,
    report,
    walk,
)
from tests.support.dossier import INTAKE_AGENCY, Intake

pytestmark = pytest.mark.integration
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
READ = ("dossier.dossier.submitted.v1", "dossier.dossier.status_changed.v1", "dossier.dossier.rated.v1")


def day(moment: datetime) -> date:
    return moment.astimezone(HANOI).date()


async def independent_figures(db_url: str, since: date, until: date) -> dict[str, dict[str, Any]]:
    """The figures counted straight from the dossier tables, without the read model's code."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    history = defaultdict(list)
    for h in await rows(db_url, select(dossier_history)):
        history[str(h.dossier_id)].append(h)
    documents = dict(
        await rows(db_url, select(attachments.c.dossier_id, func.count()).group_by(attachments.c.dossier_id))
    )
    scores = {str(r.dossier_id): r for r in await rows(db_url, select(ratings))}
    for d in await rows(db_url, select(dossiers)):
        steps, into = history[str(d.id)], counts[d.agency_code]
        received = d.received_at or min(h.occurred_at for h in steps if h.previous is None)
        if since <= day(received) <= until:
            into["online" if d.origin == "portal" else "mirrored"] += 1
            into["digitised"] += 1 if documents.get(d.id) else 0
            into["published"] += 1 if any(h.source == "agency" for h in steps) else 0
        ended = [h.occurred_at for h in steps if h.status in (9, 10)]
        if ended and since <= day(min(ended)) <= until:
            into["processed"] += 1
            late = d.appointment_date is not None and day(min(ended)) > d.appointment_date
            into["overdue" if late else "on_time"] += 1 if d.appointment_date is not None else 0
        if d.fees_paid_at is not None and since <= day(d.fees_paid_at) <= until:
            into["payments_online"] += 1
        rating = scores.get(str(d.id))
        if rating is not None and since <= day(rating.rated_at) <= until:
            into["rated"] += 1
            into["rating_sum"] += rating.score
    return {a: dict(c) for a, c in counts.items()}


def shown(item: dict[str, Any]) -> dict[str, int]:
    """An item of the endpoint in the independent count's terms (zeros left out)."""
    values = {"online": item["received"]["online"], "mirrored": item["received"]["mirrored"],
              "digitised": item["digitised"], "published": item["published"], "processed": item["processed"],
              "on_time": item["on_time"], "overdue": item["overdue"], "payments_online": item["payments_online"],
              "rated": item["ratings"]["count"],
              "rating_sum": round(item["ratings"]["average"] * item["ratings"]["count"]) if item["ratings"]["count"]
              else 0}  # fmt: skip
    return {k: v for k, v in values.items() if v}


async def test_the_figures_reconcile_with_the_dossiers_under_shuffled_and_repeated_events(
    intake: Intake, dossier_db: Database
) -> None:
    clock, citizen = Clock(), intake.citizen()
    payments = []
    async with intake.client() as api:
        done = await filed(intake, api)  # processed on time, result returned, rated
        await walk(dossier_db, done["code"], clock, 2, 4, 9, 10)
        rating = await api.post(f"/dossiers/{done['dossier_id']}/rating", headers=citizen, json={"score": 4})
        assert rating.status_code == 201, rating.text
        late = await filed(intake, api)  # paid, then processed after its appointment
        await walk(dossier_db, late["code"], clock, 6)
        payments.append(payment(late, ASSESSED, clock.next()))
        assert await pay(dossier_db, payments[-1]) == "applied"
        appointment = date.fromisoformat(late["appointment_date"])
        after = datetime.combine(appointment + timedelta(days=2), datetime.min.time(), HANOI) + timedelta(hours=10)
        assert await report(dossier_db, record(late["code"], 9, after)) == "applied"
        await filed(intake, api)  # only filed
    desk_late = f"{INTAKE_AGENCY}-251101-0001"  # filed at the desk a month ago, processed now: overdue
    past = datetime.now(UTC) - timedelta(days=30)
    assert await report(dossier_db, record(desk_late, 2, past, dossier=described(
        "036090001122", received_at=past.isoformat(), appointment_date=(past + timedelta(days=5)).date().isoformat()
    ))) == "mirrored"  # fmt: skip
    await walk(dossier_db, desk_late, clock, 4, 9)
    desk = f"{INTAKE_AGENCY}-251130-0002"
    assert await report(dossier_db, record(desk, 2, clock.next(), dossier=described("036090003344"))) == "mirrored"

    written = await rows(intake.db_url, select(outbox.c.type, outbox.c.data).where(outbox.c.type.in_(READ)))
    events = [(r.type, r.data) for r in written] + [("payment.order.succeeded.v1", p) for p in payments]
    rng = random.Random(2025)
    delivered = events + rng.choices(events, k=len(events) // 2)
    rng.shuffle(delivered)
    while delivered:
        size = rng.randint(1, 7)
        batch, delivered = delivered[:size], delivered[size:]
        async with dossier_db.transaction() as uow:
            await statistics.apply_events(uow, batch)

    since, until = date.today() - timedelta(days=60), date.today() + timedelta(days=60)
    expected = await independent_figures(intake.db_url, since, until)
    async with intake.client() as api:
        days = (until - since).days + 1
        answer = await api.get("/statistics", params={"from": since.isoformat(), "days": days})
    assert answer.status_code == 200, answer.text
    assert {item["agency_code"]: shown(item) for item in answer.json()["items"]} == expected
    mine = expected[INTAKE_AGENCY]
    assert (mine["online"], mine["mirrored"], mine["processed"], mine["on_time"], mine["overdue"]) == (3, 2, 3, 1, 2)
    assert (mine["payments_online"], mine["rated"], mine["rating_sum"]) == (1, 1, 4)
    index = answer.json()["items"][0]["quality_index"]
    assert index["online"] == 60.0 and index["progress"] == round(100 / 3, 1) and index["satisfaction"] == 80.0


async def test_the_figures_are_public_cacheable_and_bounded(intake: Intake) -> None:
    async with intake.client() as api:
        first = await api.get("/statistics", params={"from": "2025-01-01", "days": 365})
        assert first.status_code == 200 and first.json()["items"] == []
        # One page shape: items and next (null on the last page, and then no Link), with the period.
        assert first.json()["next"] is None and "link" not in first.headers
        assert (first.json()["from"], first.json()["to"]) == ("2025-01-01", "2025-12-31")
        assert first.headers["cache-control"] == "public, max-age=300"
        again = await api.get("/statistics", params={"from": "2025-01-01", "days": 365},
                              headers={"If-None-Match": first.headers["etag"]})  # fmt: skip
        assert again.status_code == 304
        for params, field in (
            ({"from": "2025-02-01"}, "days"),
            ({"from": "2025-02-01", "days": "0"}, "days"),
            ({"from": "2024-01-01", "days": "367"}, "days"),
            ({"from": "2025-01-01", "days": "31", "limit": "201"}, "limit"),
            ({"from": "2025-13-01", "days": "31"}, "from"),
            ({"from": "2025-01-01", "days": "31", "agency": "x;drop"}, "agency"),
        ):
            refused = await api.get("/statistics", params=params)
            assert refused.status_code == 422, params
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert field in str(refused.json()["errors"]), refused.json()


async def test_a_period_is_its_first_day_and_its_length_up_to_the_calendars_end(intake: Intake) -> None:
    async with intake.client() as api:
        leap = await api.get("/statistics", params={"from": "2024-01-01", "days": 366})
        last = await api.get("/statistics", params={"from": "9999-12-01", "days": 366})
    assert (leap.json()["from"], leap.json()["to"]) == ("2024-01-01", "2024-12-31")
    assert last.status_code == 200 and (last.json()["from"], last.json()["to"]) == ("9999-12-01", "9999-12-31")
