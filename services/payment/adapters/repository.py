"""Reads and writes of the payment service's tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import (
    assessments,
    callbacks,
    order_transitions,
    orders,
    receipt_keys,
    receipts,
    reference_sequences,
)


def _dict(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


async def save_assessment(session: AsyncConnection, values: dict[str, Any]) -> None:
    """The latest assessment of a dossier (a re-assessment replaces it; only a new order uses it)."""
    statement = insert(assessments).values(**values)
    update_columns = {c: statement.excluded[c] for c in ("lines", "total", "owner", "agency_code", "dossier_code")}
    await session.execute(statement.on_conflict_do_update(index_elements=["dossier_id"], set_=update_columns))


async def assessment(session: AsyncConnection, dossier_id: str) -> dict[str, Any] | None:
    query = select(assessments).where(assessments.c.dossier_id == dossier_id).with_for_update()
    return _dict((await session.execute(query)).first())


async def next_reference_number(session: AsyncConnection, day: date) -> int:
    statement = (
        insert(reference_sequences)
        .values(day=day, last_value=1)
        .on_conflict_do_update(index_elements=["day"], set_={"last_value": reference_sequences.c.last_value + 1})
        .returning(reference_sequences.c.last_value)
    )
    return int((await session.execute(statement)).scalar_one())


async def insert_order(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(insert(orders).values(**values))


async def order_by_id(session: AsyncConnection, order_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    query = select(orders).where(orders.c.id == order_id)
    return _dict((await session.execute(query.with_for_update() if lock else query)).first())


async def order_by_reference(session: AsyncConnection, reference: str, *, lock: bool = False) -> dict[str, Any] | None:
    query = select(orders).where(orders.c.reference == reference)
    return _dict((await session.execute(query.with_for_update() if lock else query)).first())


async def live_order_of(session: AsyncConnection, dossier_id: str) -> dict[str, Any] | None:
    query = select(orders).where(
        orders.c.dossier_id == dossier_id, orders.c.state.in_(["created", "pending", "succeeded"])
    )
    return _dict((await session.execute(query.with_for_update())).first())


async def update_order(session: AsyncConnection, order_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(orders).where(orders.c.id == order_id).values(**values, updated_at=func.now()))


async def add_transition(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(insert(order_transitions).values(**values))


async def transitions(session: AsyncConnection, order_id: str) -> list[dict[str, Any]]:
    query = select(order_transitions).where(order_transitions.c.order_id == order_id).order_by(order_transitions.c.id)
    return [dict(r._mapping) for r in await session.execute(query)]


async def expirable(session: AsyncConnection, now: datetime, limit: int) -> list[str]:
    query = (
        select(orders.c.id)
        .where(orders.c.state.in_(["created", "pending"]), orders.c.expires_at < now)
        .order_by(orders.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [str(r.id) for r in await session.execute(query)]


async def record_callback(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(insert(callbacks).values(**values))


async def insert_receipt(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(insert(receipts).values(**values))


async def receipt_of(session: AsyncConnection, order_id: str) -> dict[str, Any] | None:
    return _dict((await session.execute(select(receipts).where(receipts.c.order_id == order_id))).first())


async def receipt_keys_all(session: AsyncConnection) -> list[dict[str, Any]]:
    query = select(receipt_keys).order_by(receipt_keys.c.created_at.desc())
    return [dict(r._mapping) for r in await session.execute(query)]


async def insert_receipt_key(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(insert(receipt_keys).values(**values))


async def advisory_lock(session: AsyncConnection, name: str) -> None:
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(name, 0))))


async def orders_by_references(session: AsyncConnection, references: list[str]) -> dict[str, dict[str, Any]]:
    if not references:
        return {}
    query = select(orders).where(orders.c.reference.in_(references))
    return {row.reference: dict(row._mapping) for row in await session.execute(query)}


async def paid_between(
    session: AsyncConnection, provider: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    query = select(orders).where(
        orders.c.provider == provider,
        orders.c.state.in_(["succeeded", "refunded"]),
        orders.c.paid_at >= since,
        orders.c.paid_at < until,
    )
    return [dict(row._mapping) for row in await session.execute(query)]


async def pending_since(
    session: AsyncConnection, provider: str, before: datetime, limit: int
) -> list[tuple[str, str, datetime]]:
    """Id, reference and creation time of the oldest orders still pending since before ``before``."""
    query = (
        select(orders.c.id, orders.c.reference, orders.c.created_at)
        .where(orders.c.provider == provider, orders.c.state == "pending", orders.c.created_at < before)
        .order_by(orders.c.created_at)
        .limit(limit)
    )
    return [(str(r.id), r.reference, r.created_at) for r in await session.execute(query)]
