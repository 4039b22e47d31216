"""Reads and writes of the sync service's inbound tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import accepted_records, batch_results, batches, dossier_progress, status_mappings


async def mappings_for(session: AsyncSession, agencies: Sequence[str]) -> dict[tuple[str, str], int]:
    query = select(status_mappings).where(status_mappings.c.agency_code.in_(list(agencies)))
    return {(r.agency_code, r.local_value): int(r.status) for r in await session.execute(query)}


async def save_mappings(session: AsyncSession, agency_code: str, values: dict[str, int]) -> None:
    await session.execute(status_mappings.delete().where(status_mappings.c.agency_code == agency_code))
    if values:
        rows = [{"agency_code": agency_code, "local_value": k, "status": v} for k, v in values.items()]
        await session.execute(insert(status_mappings), rows)


async def lock_progress(session: AsyncSession, codes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The latest accepted update of each dossier, rows locked (in code order: no deadlocks
    between batches naming the same dossiers)."""
    if not codes:
        return {}
    query = (
        select(dossier_progress)
        .where(dossier_progress.c.dossier_code.in_(sorted(set(codes))))
        .order_by(dossier_progress.c.dossier_code)
        .with_for_update()
    )
    return {r.dossier_code: dict(r._mapping) for r in await session.execute(query)}


async def seen_records(session: AsyncSession, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    if not keys:
        return set()
    query = select(accepted_records.c.agency_code, accepted_records.c.record_id).where(
        tuple_(accepted_records.c.agency_code, accepted_records.c.record_id).in_(list(set(keys)))
    )
    return {(r.agency_code, r.record_id) for r in await session.execute(query)}


async def save_accepted(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(accepted_records).on_conflict_do_nothing(), rows)


async def save_progress(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    statement = insert(dossier_progress)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["dossier_code"],
            set_={c: statement.excluded[c] for c in ("agency_code", "status", "occurred_at", "record_id")},
            where=dossier_progress.c.occurred_at <= statement.excluded.occurred_at,
        ),
        rows,
    )


async def save_batch(session: AsyncSession, batch: dict[str, Any], results: list[dict[str, Any]]) -> None:
    await session.execute(insert(batches).values(**batch))
    if results:
        await session.execute(insert(batch_results), results)


async def batch_of(session: AsyncSession, batch_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    found = (await session.execute(select(batches).where(batches.c.id == batch_id))).first()
    if found is None:
        return None
    query = select(batch_results).where(batch_results.c.batch_id == batch_id).order_by(batch_results.c.position)
    return dict(found._mapping), [dict(r._mapping) for r in await session.execute(query)]
