"""Use cases of the public statistics: events folded into the read model, and the figures per
agency and period with the service-quality index (the rules are in ``domain.statistics``).

Events are applied set by set: the facts of every dossier a batch names are read locked (made
if missing) in one statement, the events merged in memory, then the changed facts and the
counters' differences written in one statement each. Repeated and out-of-order events end in
the same figures (the domain's rules 1–3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel

from contracts.events.dossier import DossierRated, DossierSubmitted, StatusChanged
from contracts.events.payment import PaymentSucceeded
from services.kit.consumer import event_data

from ..domain import statistics as stats
from ..domain.statistics import Facts
from .unit_of_work import DossierUnitOfWork

CONTRACTS: dict[str, type[BaseModel]] = {
    DossierSubmitted.TYPE: DossierSubmitted,
    StatusChanged.TYPE: StatusChanged,
    DossierRated.TYPE: DossierRated,
    PaymentSucceeded.TYPE: PaymentSucceeded,
}


async def apply_events(uow: DossierUnitOfWork, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Fold ``(event type, data)`` pairs, in order, into the read model (``data``: the events'
    data as delivered, checked here against their contracts)."""
    parsed = [(kind, event_data(CONTRACTS[kind], data)) for kind, data in events]
    before = await uow.statistics.lock_facts([data.dossier_id for _, data in parsed])  # type: ignore[attr-defined]  # all CONTRACTS have one
    after = dict(before)
    for kind, data in parsed:
        dossier_id = data.dossier_id  # type: ignore[attr-defined]  # every model in CONTRACTS has it
        after[dossier_id] = stats.merge(after[dossier_id], kind, data)
    deltas: Counter[tuple[str, date, str]] = Counter()
    changed: list[Facts] = []
    for dossier_id, facts in after.items():
        if facts != before[dossier_id]:
            changed.append(facts)
            deltas.update(stats.difference(before[dossier_id], facts))
    await uow.statistics.save_facts(changed)
    await uow.statistics.add_to_counters([(*key, amount) for key, amount in deltas.items() if amount])


@dataclass(frozen=True, slots=True)
class QualityIndex:
    """The service-quality index's five groups (0–100, None without data) and their mean."""

    publicity: float | None
    progress: float | None
    digitisation: float | None
    online: float | None
    satisfaction: float | None
    overall: float | None


@dataclass(frozen=True, slots=True)
class AgencyFigures:
    agency_code: str
    received_online: int
    received_mirrored: int
    digitised: int
    published: int
    processed: int
    on_time: int
    overdue: int
    payments_online: int
    ratings: int
    rating_average: float | None
    quality_index: QualityIndex


@dataclass(frozen=True, slots=True)
class FiguresPage:
    since: date
    until: date
    items: list[AgencyFigures]
    next: str | None  # the cursor of the next page: the last agency's code


def _figures(agency: str, totals: dict[str, int]) -> AgencyFigures:
    rated = totals.get("rated", 0)
    index = stats.quality_index(totals)
    return AgencyFigures(
        agency_code=agency, received_online=totals.get("received_online", 0),
        received_mirrored=totals.get("received_mirrored", 0), digitised=totals.get("digitised", 0),
        published=totals.get("published", 0), processed=totals.get("processed", 0),
        on_time=totals.get("on_time", 0), overdue=totals.get("overdue", 0),
        payments_online=totals.get("paid_online", 0), ratings=rated,
        rating_average=round(totals.get("rating_sum", 0) / rated, 2) if rated else None,
        quality_index=QualityIndex(
            publicity=index["publicity"], progress=index["progress"], digitisation=index["digitisation"],
            online=index["online"], satisfaction=index["satisfaction"], overall=index["overall"],
        ),
    )  # fmt: skip


async def figures(
    uow: DossierUnitOfWork, since: date, until: date, *, agency: str | None, after: str | None, limit: int
) -> FiguresPage:
    """Per agency (in code order, ``limit`` at a time after the cursor ``after``), the counts
    over the Vietnam calendar days ``since``..``until`` and the quality index."""
    agencies = await uow.statistics.agencies_with_data(since, until, agency, after, limit + 1)
    page, more = agencies[:limit], len(agencies) > limit
    totals = await uow.statistics.totals(page, since, until)
    return FiguresPage(since=since, until=until, items=[_figures(a, totals[a]) for a in page],
                       next=page[-1] if more else None)  # fmt: skip
