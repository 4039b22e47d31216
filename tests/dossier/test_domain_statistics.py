"""The statistics' rules on their own: facts merged in any order and any number of times give
the same counters, days are Vietnam's, on time is judged against the appointment date, and the
quality index is the documented ratios."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from contracts.events.dossier import DossierRated, DossierSubmitted, StatusChanged
from contracts.events.payment import PaymentSucceeded
from services.dossier.domain import statistics as stats
from services.dossier.domain.statistics import Facts

AGENCY, OTHER = "000.00.01.H22", "000.00.02.H29"
T0 = datetime(2025, 12, 1, 2, 0, tzinfo=UTC)  # 09:00 in Hanoi


def changed(dossier: str, previous: int | None, status: int, at: datetime, *, origin: str = "portal",
            source: str = "agency", agency: str = AGENCY, received: datetime | None = T0,
            appointment: date | None = date(2025, 12, 5)) -> tuple[str, Any]:  # fmt: skip
    return StatusChanged.TYPE, StatusChanged(
        dossier_id=dossier, code=f"C-{dossier}", agency_code=agency, origin=origin, previous=previous, status=status,
        source=source, occurred_at=at, received_at=received, appointment_date=appointment,
    )  # fmt: skip


def submitted(dossier: str, attachments: int, agency: str = AGENCY) -> tuple[str, Any]:
    attached = [{"id": f"a{i}", "component_code": "TP01", "filename": "x.pdf", "content_type": "application/pdf",
                 "size": 10, "sha256": "0" * 64} for i in range(attachments)]  # fmt: skip
    return DossierSubmitted.TYPE, DossierSubmitted(
        dossier_id=dossier, code=f"C-{dossier}", service_id="s", service_version=1, procedure_code="1.0",
        procedure_name="p", agency_code=agency, routing_target="r",
        applicant={"kind": "citizen", "identifier": "001099012345", "name": "An"}, form={},
        attachments=attached, fees=[], received_at=T0, appointment_date=date(2025, 12, 5),
    )  # fmt: skip


def paid(dossier: str, at: datetime) -> tuple[str, Any]:
    return PaymentSucceeded.TYPE, PaymentSucceeded(
        order_id=f"o-{dossier}", dossier_id=dossier, dossier_code=f"C-{dossier}", amount=1, provider="vnpay",
        receipt_number="R", paid_at=at,
    )  # fmt: skip


def rated(dossier: str, score: int, at: datetime, agency: str = AGENCY) -> tuple[str, Any]:
    return DossierRated.TYPE, DossierRated(dossier_id=dossier, code=f"C-{dossier}", agency_code=agency, service_id=None,
                                     procedure_code="1.0", score=score, rated_at=at)  # fmt: skip


# A portal dossier with documents, processed on time, paid and rated; one processed late (its
# processing ended at 00:30 in Hanoi the day after its appointment: still the 5th in UTC); a
# mirrored one received at the desk whose agency only received it; one of another agency with
# no documents, withdrawn; a payment whose dossier is never seen.
EVENTS = [
    submitted("d1", 2),
    changed("d1", None, 1, T0, source="portal"),
    changed("d1", 1, 2, T0 + timedelta(hours=1)),
    changed("d1", 2, 9, T0 + timedelta(days=3)),
    changed("d1", 9, 10, T0 + timedelta(days=4)),
    paid("d1", T0 + timedelta(hours=2)),
    rated("d1", 4, T0 + timedelta(days=5)),
    submitted("d2", 1),
    changed("d2", None, 1, T0, source="portal"),
    changed("d2", 1, 9, datetime(2025, 12, 5, 17, 30, tzinfo=UTC)),
    changed("d3", None, 2, T0 - timedelta(days=1), origin="mirrored", received=None, appointment=None),
    submitted("d4", 0, OTHER),
    changed("d4", None, 1, T0, source="portal", agency=OTHER),
    changed("d4", 1, 7, T0 + timedelta(hours=5), source="owner", agency=OTHER),
    paid("ghost", T0),
]
DEC = {d: date(2025, 12, d) for d in range(1, 8)}
EXPECTED = Counter({
    (AGENCY, DEC[1], "received_online"): 2, (AGENCY, DEC[1], "digitised"): 2, (AGENCY, DEC[1], "published"): 2,
    (AGENCY, DEC[4], "processed"): 1, (AGENCY, DEC[4], "on_time"): 1,
    (AGENCY, DEC[6], "processed"): 1, (AGENCY, DEC[6], "overdue"): 1,
    (AGENCY, DEC[1], "paid_online"): 1, (AGENCY, DEC[6], "rated"): 1, (AGENCY, DEC[6], "rating_sum"): 4,
    (AGENCY, date(2025, 11, 30), "received_mirrored"): 1, (AGENCY, date(2025, 11, 30), "published"): 1,
    (OTHER, DEC[1], "received_online"): 1,
})  # fmt: skip


def fold(events: list[tuple[str, Any]], chunks: int, rng: random.Random) -> Counter:
    """Apply ``events`` as the service does: in batches, each moving the counters by the
    difference of the facts it changed."""
    facts: dict[str, Facts] = {}
    counters: Counter = Counter()
    cuts = sorted(rng.sample(range(1, len(events)), min(chunks, len(events) - 1))) if len(events) > 1 else []
    for batch in (events[i:j] for i, j in zip([0, *cuts], [*cuts, len(events)], strict=True)):
        before = dict(facts)
        for kind, data in batch:
            facts[data.dossier_id] = stats.merge(facts.get(data.dossier_id, Facts(data.dossier_id)), kind, data)
        for dossier_id, after in facts.items():
            counters.update(stats.difference(before.get(dossier_id), after))
    return +counters


def test_the_counters_are_the_documented_ones() -> None:
    assert fold(EVENTS, 0, random.Random(1)) == EXPECTED


@pytest.mark.parametrize("seed", range(40))
def test_any_order_and_any_repetition_give_the_same_counters(seed: int) -> None:
    rng = random.Random(seed)
    events = EVENTS + rng.choices(EVENTS, k=rng.randint(0, len(EVENTS)))  # some delivered again
    rng.shuffle(events)
    assert fold(events, rng.randint(0, 6), rng) == EXPECTED


def test_no_counter_goes_negative_on_the_way() -> None:
    rng = random.Random(7)
    facts: dict[str, Facts] = {}
    counters: Counter = Counter()
    events = EVENTS * 2
    rng.shuffle(events)
    for kind, data in events:
        before = facts.get(data.dossier_id)
        facts[data.dossier_id] = stats.merge(before or Facts(data.dossier_id), kind, data)
        counters.update(stats.difference(before, facts[data.dossier_id]))
        assert all(v >= 0 for v in counters.values())


def test_a_second_rating_does_not_count_twice_and_the_earliest_wins() -> None:
    first, second = rated("d9", 5, T0), rated("d9", 1, T0 + timedelta(days=1))
    for order in ([first, second], [second, first]):
        assert fold(order, 0, random.Random(0)) == Counter({(AGENCY, DEC[1], "rated"): 1,
                                                            (AGENCY, DEC[1], "rating_sum"): 5})  # fmt: skip


def test_the_quality_index_is_the_five_ratios_and_their_mean() -> None:
    totals = {"received_online": 30, "received_mirrored": 10, "digitised": 20, "published": 36, "on_time": 9,
              "overdue": 1, "rated": 4, "rating_sum": 18}  # fmt: skip
    assert stats.quality_index(totals) == {"publicity": 90.0, "progress": 90.0, "digitisation": 50.0, "online": 75.0,
                                           "satisfaction": 90.0, "overall": 79.0}  # fmt: skip
    partial = stats.quality_index({"received_online": 3, "digitised": 3, "published": 0})
    assert (partial["progress"], partial["satisfaction"], partial["overall"]) == (None, None, 66.7)  # (0+100+100)/3
    assert stats.quality_index({})["overall"] is None
