"""Public statistics per agency and day, and the service-quality index. Pure Python.

The statistics are a read model fed by events (``dossier.events``, ``payment.events``), never a
scan of the dossier tables. Events arrive at least once and, across topics and partitions, in
any order; the numbers must not depend on either. So:

1. **What is known of each dossier** (:class:`Facts`) is merged from its events with rules that
   give the same result in any order and for any repetition: a time is the earliest one seen
   (:func:`merge`), a flag once set stays set, an attribute fixed for the dossier (its agency,
   its origin) is taken from whichever event brings it.
2. **A dossier's contribution** to the daily counters (:func:`contributions`) is a function of
   its facts alone: received on the day it was received (online or mirrored; digitised when it
   came with documents; published when its agency reported progress on the portal), processed on
   the day processing ended (reached 9 or 10) and then on time or overdue against its
   appointment date, paid online on the day of payment, rated on the day of the rating.
3. **The counters are the sum of every dossier's contribution.** When an event changes a
   dossier's facts, the counters move by the difference between its new and old contribution;
   a repeated event changes no fact and so nothing. Whatever the order, the counters end equal
   to the sum over the final facts.

Days are calendar days in Vietnam (Asia/Ho_Chi_Minh). "On time" is as observed in the domain:
processing ended on or before the appointment date.

**The service-quality index** (:func:`quality_index`) follows the five groups of Decision
766/2022, each scored 0–100 from what the portal observes over the period:

- publicity and transparency: dossiers whose progress the agency published on the portal, of
  those received;
- progress and results: dossiers processed on time, of those processed;
- digitisation: dossiers received with their documents in digital form, of those received;
- online provision: dossiers received online, of all received (online and at the desk);
- satisfaction: the average rating, as a share of the best (5).

The overall index is the mean of the groups that have data (a group without any is ``None`` and
left out), with equal weights. The decision's own scoring table weighs and refines each group
with criteria the portal does not observe (published procedures, response times to feedback);
these five ratios are the part the portal can measure from its own data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from contracts.events.dossier import DossierRated, DossierSubmitted, StatusChanged
from contracts.events.payment import PaymentSucceeded

VIETNAM_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PROCESSED_STATUSES = frozenset({9, 10})  # processed, result returned: processing has ended

METRICS = (
    "received_online", "received_mirrored", "digitised", "published", "processed", "on_time", "overdue",
    "paid_online", "rated", "rating_sum",
)  # fmt: skip

#: The events the statistics fold, by their models' types.
EVENT_TYPES = (DossierSubmitted.TYPE, StatusChanged.TYPE, DossierRated.TYPE, PaymentSucceeded.TYPE)


@dataclass(frozen=True)
class Facts:
    """What the statistics know of one dossier."""

    dossier_id: str
    agency_code: str | None = None
    origin: str | None = None  # portal | mirrored
    received_at: datetime | None = None
    appointment_date: date | None = None
    digitised: bool = False
    published: bool = False
    processed_at: datetime | None = None
    paid_at: datetime | None = None
    rated_at: datetime | None = None
    rating: int | None = None


def _earliest(current: Any, candidate: Any) -> Any:
    if candidate is None:
        return current
    return candidate if current is None or candidate < current else current


def merge(facts: Facts, event_type: str, data: Any) -> Facts:
    """``facts`` with what one event says. ``data`` is the event's validated model (its contract
    in ``contracts.events``). Commutative, associative and idempotent (the module's rule 1)."""
    if event_type == StatusChanged.TYPE:
        received = data.received_at if data.received_at is not None else (
            data.occurred_at if data.previous is None else None
        )  # fmt: skip
        return replace(
            facts,
            agency_code=facts.agency_code or data.agency_code,
            origin=facts.origin or data.origin,
            received_at=_earliest(facts.received_at, received),
            appointment_date=_earliest(facts.appointment_date, data.appointment_date),
            published=facts.published or data.source == "agency",
            processed_at=_earliest(facts.processed_at, data.occurred_at if data.status in PROCESSED_STATUSES else None),
        )
    if event_type == DossierSubmitted.TYPE:
        return replace(
            facts,
            agency_code=facts.agency_code or data.agency_code,
            origin=facts.origin or "portal",
            received_at=_earliest(facts.received_at, data.received_at),
            appointment_date=_earliest(facts.appointment_date, data.appointment_date),
            digitised=facts.digitised or bool(data.attachments),
        )
    if event_type == PaymentSucceeded.TYPE:
        return replace(facts, paid_at=_earliest(facts.paid_at, data.paid_at))
    if event_type == DossierRated.TYPE:
        # One rating per dossier; were there two, the earliest counts, whatever the order seen.
        if facts.rated_at is None or (data.rated_at, data.score) < (facts.rated_at, facts.rating):
            return replace(facts, agency_code=facts.agency_code or data.agency_code, rated_at=data.rated_at,
                           rating=data.score)  # fmt: skip
        return replace(facts, agency_code=facts.agency_code or data.agency_code)
    raise ValueError(f"not an event the statistics read: {event_type}")


def local_day(moment: datetime) -> date:
    return moment.astimezone(VIETNAM_TZ).date()


def contributions(facts: Facts) -> Counter[tuple[str, date, str]]:
    """What this dossier adds to the daily counters: ``(agency, day, metric) → amount`` (rule 2)."""
    out: Counter[tuple[str, date, str]] = Counter()
    agency = facts.agency_code
    if agency is None:
        return out  # nothing to file it under yet
    if facts.received_at is not None:
        day = local_day(facts.received_at)
        out[(agency, day, "received_mirrored" if facts.origin == "mirrored" else "received_online")] += 1
        if facts.digitised:
            out[(agency, day, "digitised")] += 1
        if facts.published:
            out[(agency, day, "published")] += 1
    if facts.processed_at is not None:
        day = local_day(facts.processed_at)
        out[(agency, day, "processed")] += 1
        if facts.appointment_date is not None:
            out[(agency, day, "on_time" if day <= facts.appointment_date else "overdue")] += 1
    if facts.paid_at is not None:
        out[(agency, local_day(facts.paid_at), "paid_online")] += 1
    if facts.rated_at is not None and facts.rating is not None:
        day = local_day(facts.rated_at)
        out[(agency, day, "rated")] += 1
        out[(agency, day, "rating_sum")] += facts.rating
    return out


def difference(before: Facts | None, after: Facts) -> dict[tuple[str, date, str], int]:
    """How the counters move when a dossier's facts go from ``before`` to ``after`` (rule 3);
    only the keys that change."""
    delta = contributions(after)
    delta.subtract(contributions(before) if before is not None else Counter())
    return {key: amount for key, amount in delta.items() if amount}


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def quality_index(totals: dict[str, int]) -> dict[str, float | None]:
    """The five groups (0–100, None without data) and their mean, from a period's counters."""
    received = totals.get("received_online", 0) + totals.get("received_mirrored", 0)
    rated = totals.get("rated", 0)
    groups = {
        "publicity": _share(totals.get("published", 0), received),
        "progress": _share(totals.get("on_time", 0), totals.get("on_time", 0) + totals.get("overdue", 0)),
        "digitisation": _share(totals.get("digitised", 0), received),
        "online": _share(totals.get("received_online", 0), received),
        "satisfaction": _share(totals.get("rating_sum", 0), 5 * rated),
    }
    scored = [v for v in groups.values() if v is not None]
    return {**groups, "overall": round(sum(scored) / len(scored), 1) if scored else None}
