"""Reads and writes of the sync service's inbound tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.sqlsets import in_array, pair_in_arrays

from .tables import (
    accepted_records,
    agency_endpoints,
    batches,
    deliveries,
    delivery_attempts,
    dossier_progress,
    status_mappings,
)


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
        .where(in_array(dossier_progress.c.dossier_code, set(codes)))
        .order_by(dossier_progress.c.dossier_code)
        .with_for_update()
    )
    return {r.dossier_code: dict(r._mapping) for r in await session.execute(query)}


async def seen_records(session: AsyncSession, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    if not keys:
        return set()
    query = select(accepted_records.c.agency_code, accepted_records.c.record_id).where(
        pair_in_arrays(accepted_records.c.agency_code, accepted_records.c.record_id, set(keys))
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


async def save_batch(session: AsyncSession, batch: dict[str, Any]) -> None:
    await session.execute(insert(batches), batch)


async def batch_of(session: AsyncSession, batch_id: str) -> dict[str, Any] | None:
    found = (await session.execute(select(batches).where(batches.c.id == batch_id))).first()
    return None if found is None else dict(found._mapping)


# --- outbound -------------------------------------------------------------------------------


async def save_endpoint(session: AsyncSession, values: dict[str, Any]) -> None:
    statement = insert(agency_endpoints).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["agency_code"],
            set_={"mode": statement.excluded.mode, "url": statement.excluded.url,
                  "secrets": statement.excluded.secrets, "updated_at": func.now()},
        )
    )  # fmt: skip


async def endpoint(session: AsyncSession, agency_code: str) -> dict[str, Any] | None:
    row = (await session.execute(select(agency_endpoints).where(agency_endpoints.c.agency_code == agency_code))).first()
    return dict(row._mapping) if row else None


async def add_delivery(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(deliveries).values(**values).on_conflict_do_nothing(index_elements=["dossier_id"]))


async def claim_due(session: AsyncSession, now: datetime, lease_until: datetime, limit: int) -> list[dict[str, Any]]:
    """Due pushed deliveries, locked past their peers (SKIP LOCKED) and leased until ``lease_until``."""
    due = (
        select(deliveries.c.id)
        .select_from(deliveries.join(agency_endpoints, agency_endpoints.c.agency_code == deliveries.c.agency_code))
        .where(deliveries.c.state == "pending", deliveries.c.next_attempt_at <= now, agency_endpoints.c.mode == "push")
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
        .with_for_update(of=deliveries, skip_locked=True)
    )
    ids = [r.id for r in await session.execute(due)]
    if not ids:
        return []
    await session.execute(update(deliveries).where(deliveries.c.id.in_(ids)).values(next_attempt_at=lease_until))
    query = (
        select(deliveries, agency_endpoints.c.url, agency_endpoints.c.secrets)
        .select_from(deliveries.join(agency_endpoints, agency_endpoints.c.agency_code == deliveries.c.agency_code))
        .where(deliveries.c.id.in_(ids))
        .order_by(deliveries.c.id)
    )
    return [dict(r._mapping) for r in await session.execute(query)]


async def delivery(session: AsyncSession, delivery_id: int, *, lock: bool = False) -> dict[str, Any] | None:
    query = select(deliveries).where(deliveries.c.id == delivery_id)
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    return dict(row._mapping) if row else None


async def update_delivery(session: AsyncSession, delivery_id: int, values: dict[str, Any]) -> None:
    await session.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))


async def add_attempt(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(delivery_attempts).values(**values))


async def attempts_of(session: AsyncSession, delivery_id: int) -> list[dict[str, Any]]:
    query = (
        select(delivery_attempts).where(delivery_attempts.c.delivery_id == delivery_id).order_by(delivery_attempts.c.id)
    )
    return [dict(r._mapping) for r in await session.execute(query)]


async def feed(session: AsyncSession, agencies: Sequence[str], after: int, limit: int) -> list[dict[str, Any]]:
    query = (
        select(deliveries)
        .select_from(deliveries.join(agency_endpoints, agency_endpoints.c.agency_code == deliveries.c.agency_code))
        .where(deliveries.c.agency_code.in_(list(agencies)), deliveries.c.id > after,
               deliveries.c.state == "pending", agency_endpoints.c.mode == "pull")
        .order_by(deliveries.c.id)
        .limit(limit)
    )  # fmt: skip
    return [dict(r._mapping) for r in await session.execute(query)]


async def acknowledge(session: AsyncSession, agencies: Sequence[str], ids: Sequence[int], now: datetime) -> list[int]:
    statement = (
        update(deliveries)
        .where(deliveries.c.id.in_(list(ids)), deliveries.c.agency_code.in_(list(agencies)),
               deliveries.c.state == "pending")
        .values(state="delivered", delivered_at=now)
        .returning(deliveries.c.id)
    )  # fmt: skip
    return sorted(r.id for r in await session.execute(statement))


async def failing(session: AsyncSession) -> list[dict[str, Any]]:
    """Per agency: dead deliveries and pending ones that have failed, with the oldest such."""
    query = (
        select(
            deliveries.c.agency_code,
            func.count().filter(deliveries.c.state == "dead").label("dead"),
            func.count().filter(deliveries.c.state == "pending").label("retrying"),
            func.min(deliveries.c.created_at).label("oldest"),
            func.max(deliveries.c.last_error).label("an_error"),
        )
        .where(deliveries.c.last_error.is_not(None), deliveries.c.state != "delivered")
        .group_by(deliveries.c.agency_code)
        .order_by(deliveries.c.agency_code)
    )
    return [dict(r._mapping) for r in await session.execute(query)]


async def revive(session: AsyncSession, now: datetime, *, delivery_id: int | None = None,
                 agency_code: str | None = None) -> int:  # fmt: skip
    """Dead deliveries (one, or an agency's) pending again at once, their attempts counted anew."""
    conditions = [deliveries.c.state == "dead"]
    if delivery_id is not None:
        conditions.append(deliveries.c.id == delivery_id)
    if agency_code is not None:
        conditions.append(deliveries.c.agency_code == agency_code)
    result = await session.execute(
        update(deliveries).where(*conditions).values(state="pending", attempts=0, next_attempt_at=now)
        .returning(deliveries.c.id)
    )  # fmt: skip
    return len(result.all())
