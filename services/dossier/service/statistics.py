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
from datetime import date
from typing import Any

from pydantic import BaseModel

from contracts.events.dossier import DossierRated, DossierSubmitted, StatusChanged
from contracts.events.payment import PaymentSucceeded
from services.kit.consumer import event_data
from services.kit.db import UnitOfWork

from ..adapters import statistics as repo
from ..domain import statistics as stats
from ..domain.statistics import Facts

CONTRACTS: dict[str, type[BaseModel]] = {
    stats.SUBMITTED: DossierSubmitted,
    stats.STATUS_CHANGED: StatusChanged,
    stats.RATED: DossierRated,
    stats.PAYMENT_SUCCEEDED: PaymentSucceeded,
}


async def apply_events(uow: UnitOfWork, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Fold ``(event type, data)`` pairs, in order, into the read model."""
    parsed = [(kind, event_data(CONTRACTS[kind], data)) for kind, data in events]
    stored = await repo.lock_facts(uow.connection, [data.dossier_id for _, data in parsed])  # type: ignore[attr-defined]  # all CONTRACTS have one
    before = {dossier_id: Facts(**row) for dossier_id, row in stored.items()}
    after = dict(before)
    for kind, data in parsed:
        dossier_id = data.dossier_id  # type: ignore[attr-defined]  # every model in CONTRACTS has it
        after[dossier_id] = stats.merge(after[dossier_id], kind, data)
    deltas: Counter[tuple[str, date, str]] = Counter()
    changed = []
    for dossier_id, facts in after.items():
        if facts != before[dossier_id]:
            changed.append(facts)
            deltas.update(stats.difference(before[dossier_id], facts))
    await repo.save_facts(uow.connection, [vars(f) for f in changed])
    await repo.add_to_counters(uow.connection, [(*key, amount) for key, amount in deltas.items() if amount])


def _figures(agency: str, totals: dict[str, int]) -> dict[str, Any]:
    online, mirrored = totals.get("received_online", 0), totals.get("received_mirrored", 0)
    rated = totals.get("rated", 0)
    return {
        "agency_code": agency,
        "received": {"online": online, "mirrored": mirrored, "total": online + mirrored},
        "digitised": totals.get("digitised", 0),
        "published": totals.get("published", 0),
        "processed": totals.get("processed", 0),
        "on_time": totals.get("on_time", 0),
        "overdue": totals.get("overdue", 0),
        "payments_online": totals.get("paid_online", 0),
        "ratings": {"count": rated, "average": round(totals.get("rating_sum", 0) / rated, 2) if rated else None},
        "quality_index": stats.quality_index(totals),
    }


async def figures(
    uow: UnitOfWork, since: date, until: date, *, agency: str | None, after: str | None, limit: int
) -> dict[str, Any]:
    """Per agency (in code order, ``limit`` at a time after the cursor ``after``), the counts
    over the Vietnam calendar days ``since``..``until`` and the quality index."""
    agencies = await repo.agencies_with_data(uow.connection, since, until, agency, after, limit + 1)
    page, more = agencies[:limit], len(agencies) > limit
    totals = await repo.totals(uow.connection, page, since, until)
    return {
        "from": since.isoformat(),
        "to": until.isoformat(),
        "items": [_figures(a, totals[a]) for a in page],
        "next": page[-1] if more else None,
    }
