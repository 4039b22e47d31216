"""Reads and writes of the sync service's inbound tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kit.sqlsets import in_array, pair_in_arrays

from .tables import (
    accepted_records,
    agency_endpoints,
    batches,
    deliveries,
    delivery_attempts,
    known_dossiers,
    status_mappings,
)


async def mappings_for(session: AsyncConnection, agencies: Sequence[str]) -> dict[tuple[str, str], int]:
    query = select(status_mappings).where(status_mappings.c.agency_code.in_(list(agencies)))
    return {(r.agency_code, r.local_value): int(r.status) for r in await session.execute(query)}


async def save_mappings(session: AsyncConnection, agency_code: str, values: dict[str, int]) -> None:
    await session.execute(status_mappings.delete().where(status_mappings.c.agency_code == agency_code))
    if values:
        rows = [{"agency_code": agency_code, "local_value": k, "status": v} for k, v in values.items()]
        await session.execute(insert(status_mappings), rows)


async def lock_known(session: AsyncConnection, codes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """What is known of these dossiers, rows locked (in code order: no deadlocks between batches
    naming the same dossiers)."""
    if not codes:
        return {}
    query = (
        select(known_dossiers)
        .where(in_array(known_dossiers.c.dossier_code, set(codes)))
        .order_by(known_dossiers.c.dossier_code)
        .with_for_update()
    )
    return {r.dossier_code: dict(r._mapping) for r in await session.execute(query)}


async def save_known(session: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Dossiers as accepted records left them (rows: code, agency, digest, status, time)."""
    if not rows:
        return
    statement = insert(known_dossiers)
    excluded = statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["dossier_code"],
            set_={"status": excluded.status, "updated_at": func.now(),
                  "last_update_at": func.greatest(known_dossiers.c.last_update_at, excluded.last_update_at),
                  "applicant_digest": func.coalesce(known_dossiers.c.applicant_digest, excluded.applicant_digest)},
        ),
        rows,
    )  # fmt: skip


async def dossier_filed(session: AsyncConnection, row: dict[str, Any]) -> None:
    """A dossier filed on the portal (a repeated event, or a code already known, changes nothing)."""
    await session.execute(insert(known_dossiers).values(**row).on_conflict_do_nothing(index_elements=["dossier_code"]))


async def dossier_changed(session: AsyncConnection, row: dict[str, Any], *, status: bool) -> None:
    """A dossier's status changed on the portal: with ``status``, the change is taken (the
    portal's, the owner's, a payment's); else (an agency's, which sync already applied) only a
    dossier sync did not know is added."""
    statement = insert(known_dossiers).values(**row)
    if not status:
        await session.execute(statement.on_conflict_do_nothing(index_elements=["dossier_code"]))
        return
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["dossier_code"],
            set_={"status": statement.excluded.status, "updated_at": func.now(),
                  "last_update_at": func.greatest(known_dossiers.c.last_update_at, statement.excluded.last_update_at)},
        )
    )  # fmt: skip


async def seen_records(session: AsyncConnection, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    if not keys:
        return set()
    query = select(accepted_records.c.agency_code, accepted_records.c.record_id).where(
        pair_in_arrays(accepted_records.c.agency_code, accepted_records.c.record_id, set(keys))
    )
    return {(r.agency_code, r.record_id) for r in await session.execute(query)}


async def save_accepted(session: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(accepted_records).on_conflict_do_nothing(), rows)


async def save_batch(session: AsyncConnection, batch: dict[str, Any]) -> None:
    await session.execute(insert(batches), batch)


async def batch_of(session: AsyncConnection, batch_id: str) -> dict[str, Any] | None:
    found = (await session.execute(select(batches).where(batches.c.id == batch_id))).first()
    return None if found is None else dict(found._mapping)


# --- outbound -------------------------------------------------------------------------------


async def save_endpoint(session: AsyncConnection, values: dict[str, Any]) -> None:
    statement = insert(agency_endpoints).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["agency_code"],
            set_={"mode": statement.excluded.mode, "url": statement.excluded.url, "format": statement.excluded.format,
                  "secrets": statement.excluded.secrets, "updated_at": func.now()},
        )
    )  # fmt: skip


async def endpoint(session: AsyncConnection, agency_code: str) -> dict[str, Any] | None:
    row = (await session.execute(select(agency_endpoints).where(agency_endpoints.c.agency_code == agency_code))).first()
    return dict(row._mapping) if row else None


# One number for the transaction-scoped advisory lock that orders deliveries (see add_delivery).
DELIVERY_ORDER_LOCK = 0x5953_4E43_4445_4C56 >> 1


async def add_delivery(session: AsyncConnection, values: dict[str, Any]) -> None:
    """One delivery (a repeated fact adds nothing). Deliveries are added one transaction at a
    time (an advisory lock held to commit), so their ids — the feed's cursor — are committed in
    order: a reader that has seen an id never finds a smaller one committed later."""
    await session.execute(select(func.pg_advisory_xact_lock(DELIVERY_ORDER_LOCK)))
    statement = insert(deliveries).values(**values).on_conflict_do_nothing(index_elements=["delivery_key"])
    await session.execute(statement)


async def claim_due(session: AsyncConnection, now: datetime, lease_until: datetime, limit: int) -> list[dict[str, Any]]:
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
        select(deliveries, agency_endpoints.c.url, agency_endpoints.c.secrets, agency_endpoints.c.format)
        .select_from(deliveries.join(agency_endpoints, agency_endpoints.c.agency_code == deliveries.c.agency_code))
        .where(deliveries.c.id.in_(ids))
        .order_by(deliveries.c.id)
    )
    return [dict(r._mapping) for r in await session.execute(query)]


async def delivery(session: AsyncConnection, delivery_id: int, *, lock: bool = False) -> dict[str, Any] | None:
    query = select(deliveries).where(deliveries.c.id == delivery_id)
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    return dict(row._mapping) if row else None


async def update_delivery(session: AsyncConnection, delivery_id: int, values: dict[str, Any]) -> None:
    await session.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))


async def add_attempt(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(insert(delivery_attempts).values(**values))


async def attempts_of(session: AsyncConnection, delivery_id: int) -> list[dict[str, Any]]:
    query = (
        select(delivery_attempts).where(delivery_attempts.c.delivery_id == delivery_id).order_by(delivery_attempts.c.id)
    )
    return [dict(r._mapping) for r in await session.execute(query)]


async def feed(session: AsyncConnection, agencies: Sequence[str], after: int, limit: int) -> list[dict[str, Any]]:
    query = (
        select(deliveries, agency_endpoints.c.format)
        .select_from(deliveries.join(agency_endpoints, agency_endpoints.c.agency_code == deliveries.c.agency_code))
        .where(deliveries.c.agency_code.in_(list(agencies)), deliveries.c.id > after,
               deliveries.c.state == "pending", agency_endpoints.c.mode == "pull")
        .order_by(deliveries.c.id)
        .limit(limit)
    )  # fmt: skip
    return [dict(r._mapping) for r in await session.execute(query)]


async def acknowledge(
    session: AsyncConnection, agencies: Sequence[str], ids: Sequence[int], now: datetime
) -> list[int]:
    statement = (
        update(deliveries)
        .where(deliveries.c.id.in_(list(ids)), deliveries.c.agency_code.in_(list(agencies)),
               deliveries.c.state == "pending")
        .values(state="delivered", delivered_at=now)
        .returning(deliveries.c.id)
    )  # fmt: skip
    return sorted(r.id for r in await session.execute(statement))


async def failing(session: AsyncConnection) -> list[dict[str, Any]]:
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


async def revive(session: AsyncConnection, now: datetime, *, delivery_id: int | None = None,
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
