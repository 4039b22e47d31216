"""Reads and writes of the statistics read model (``stats_dossiers``, ``stats_daily``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kit.sqlsets import in_array

from ..domain.statistics import Facts
from .tables import stats_daily, stats_dossiers

FACT_COLUMNS = tuple(c.name for c in stats_dossiers.c if c.name != "dossier_id")
_SAVE_FACTS = (
    update(stats_dossiers)
    .where(stats_dossiers.c.dossier_id == bindparam("_id"))
    .values({c: bindparam(c) for c in FACT_COLUMNS})
)
_ADD = insert(stats_daily)
_ADD = _ADD.on_conflict_do_update(
    index_elements=["agency_code", "day", "metric"], set_={"value": stats_daily.c.value + _ADD.excluded.value}
)


async def lock_facts(session: AsyncConnection, dossier_ids: Sequence[str]) -> dict[str, Facts]:
    """The facts of these dossiers, each row made if missing and locked, in id order (two
    transactions naming the same dossiers wait for each other, never deadlock)."""
    ordered = sorted(set(dossier_ids))
    if not ordered:
        return {}
    await session.execute(insert(stats_dossiers).on_conflict_do_nothing(), [{"dossier_id": i} for i in ordered])
    query = (
        select(stats_dossiers)
        .where(in_array(stats_dossiers.c.dossier_id, ordered))
        .order_by(stats_dossiers.c.dossier_id)
        .with_for_update()
    )
    return {row.dossier_id: Facts(**row._mapping) for row in await session.execute(query)}


async def save_facts(session: AsyncConnection, facts: Sequence[Facts]) -> None:
    if facts:
        rows = [vars(f) for f in facts]
        await session.execute(_SAVE_FACTS, [{"_id": r["dossier_id"], **{c: r[c] for c in FACT_COLUMNS}} for r in rows])


async def add_to_counters(session: AsyncConnection, deltas: Sequence[tuple[str, date, str, int]]) -> None:
    """Move each ``(agency, day, metric)`` counter by its amount, in key order."""
    if deltas:
        rows = [{"agency_code": a, "day": d, "metric": m, "value": v} for a, d, m, v in sorted(deltas)]
        await session.execute(_ADD, rows)


async def agencies_with_data(session: AsyncConnection, since: date, until: date, agency: str | None, after: str | None,
                             limit: int) -> list[str]:  # fmt: skip
    query = select(stats_daily.c.agency_code).where(stats_daily.c.day.between(since, until)).distinct()
    if agency is not None:
        query = query.where(stats_daily.c.agency_code == agency)
    if after is not None:
        query = query.where(stats_daily.c.agency_code > after)
    query = query.order_by(stats_daily.c.agency_code).limit(limit)
    return [row.agency_code for row in await session.execute(query)]


async def totals(
    session: AsyncConnection, agencies: Sequence[str], since: date, until: date
) -> dict[str, dict[str, int]]:
    """Each agency's counters summed over ``[since, until]``."""
    if not agencies:
        return {}
    query = (
        select(stats_daily.c.agency_code, stats_daily.c.metric, func.sum(stats_daily.c.value).label("total"))
        .where(in_array(stats_daily.c.agency_code, agencies), stats_daily.c.day.between(since, until))
        .group_by(stats_daily.c.agency_code, stats_daily.c.metric)
    )
    out: dict[str, dict[str, int]] = {a: {} for a in agencies}
    for row in await session.execute(query):
        out[row.agency_code][row.metric] = int(row.total)
    return out


class SqlStatistics:
    """The statistics read model (``service.unit_of_work.Statistics``)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def lock_facts(self, dossier_ids: Sequence[str]) -> dict[str, Facts]:
        return await lock_facts(self._connection, dossier_ids)

    async def save_facts(self, facts: Sequence[Facts]) -> None:
        await save_facts(self._connection, facts)

    async def add_to_counters(self, deltas: Sequence[tuple[str, date, str, int]]) -> None:
        await add_to_counters(self._connection, deltas)

    async def agencies_with_data(
        self, since: date, until: date, agency: str | None, after: str | None, limit: int
    ) -> list[str]:
        return await agencies_with_data(self._connection, since, until, agency, after, limit)

    async def totals(self, agencies: Sequence[str], since: date, until: date) -> dict[str, dict[str, int]]:
        return await totals(self._connection, agencies, since, until)
