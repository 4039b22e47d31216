"""The payment service's repositories on PostgreSQL: each implements a port of
``service/unit_of_work.py`` on the unit's connection and maps rows to entities."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kit import idempotency

from ..domain.callbacks import Callback
from ..domain.orders import LIVE, OPEN, PAID, Assessment, FeeLine, Order, OrderState, Provider, Transition
from ..domain.receipts import Receipt, ReceiptKey
from .tables import (
    assessments,
    callbacks,
    idempotency_keys,
    order_transitions,
    orders,
    receipt_keys,
    receipts,
    reference_sequences,
)

_LIVE = sorted(state.value for state in LIVE)
_OPEN = sorted(state.value for state in OPEN)
_PAID = sorted(state.value for state in PAID)


def _order(row: Any) -> Order:
    return Order(
        id=row.id, reference=row.reference, dossier_id=row.dossier_id, dossier_code=row.dossier_code,
        owner=row.owner, provider=Provider(row.provider), amount=row.amount, state=OrderState(row.state),
        created_at=row.created_at, expires_at=row.expires_at, paid_at=row.paid_at,
        provider_transaction=row.provider_transaction, flag=row.flag, expiry_warned_at=row.expiry_warned_at,
    )  # fmt: skip


def _insert_transition(order_id: str, transition: Transition) -> Insert:
    return insert(order_transitions).values(
        order_id=order_id, previous=transition.previous.value if transition.previous is not None else None,
        state=transition.state.value, source=transition.source, detail=transition.detail, at=transition.at,
    )  # fmt: skip


class SqlAssessments:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def save(self, assessment: Assessment) -> None:
        statement = insert(assessments).values(
            dossier_id=assessment.dossier_id, dossier_code=assessment.dossier_code, owner=assessment.owner,
            agency_code=assessment.agency_code, total=assessment.total, required_acr=assessment.required_acr,
            lines=[{"code": line.code, "name": line.name, "amount": line.amount} for line in assessment.lines],
        )  # fmt: skip
        update_columns = {
            c: statement.excluded[c] for c in ("lines", "total", "owner", "agency_code", "dossier_code", "required_acr")
        }
        await self.connection.execute(
            statement.on_conflict_do_update(index_elements=["dossier_id"], set_=update_columns)
        )

    async def get(self, dossier_id: str) -> Assessment | None:
        query = select(assessments).where(assessments.c.dossier_id == dossier_id).with_for_update()
        row = (await self.connection.execute(query)).first()
        if row is None:
            return None
        return Assessment(
            dossier_id=row.dossier_id, dossier_code=row.dossier_code, owner=row.owner, agency_code=row.agency_code,
            lines=tuple(FeeLine(line["code"], line["name"], line["amount"]) for line in row.lines), total=row.total,
            required_acr=row.required_acr,
        )  # fmt: skip


class SqlOrders:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def next_reference_number(self, day: date) -> int:
        statement = (
            insert(reference_sequences)
            .values(day=day, last_value=1)
            .on_conflict_do_update(index_elements=["day"], set_={"last_value": reference_sequences.c.last_value + 1})
            .returning(reference_sequences.c.last_value)
        )
        return int((await self.connection.execute(statement)).scalar_one())

    async def add(self, order: Order, history: Sequence[Transition]) -> None:
        await self.connection.execute(insert(orders).values(
            id=order.id, reference=order.reference, dossier_id=order.dossier_id, dossier_code=order.dossier_code,
            owner=order.owner, provider=order.provider.value, amount=order.amount, state=order.state.value,
            created_at=order.created_at, expires_at=order.expires_at, paid_at=order.paid_at,
            provider_transaction=order.provider_transaction, flag=order.flag, expiry_warned_at=order.expiry_warned_at,
        ))  # fmt: skip
        for transition in history:
            await self.connection.execute(_insert_transition(order.id, transition))

    async def _one(self, query: Any, lock: bool) -> Order | None:
        row = (await self.connection.execute(query.with_for_update() if lock else query)).first()
        return _order(row) if row is not None else None

    async def get(self, order_id: str, *, lock: bool = False) -> Order | None:
        return await self._one(select(orders).where(orders.c.id == order_id), lock)

    async def by_reference(self, reference: str, *, lock: bool = False) -> Order | None:
        return await self._one(select(orders).where(orders.c.reference == reference), lock)

    async def live_of(self, dossier_id: str) -> Order | None:
        return await self._one(select(orders).where(orders.c.dossier_id == dossier_id, orders.c.state.in_(_LIVE)),
                               lock=True)  # fmt: skip

    async def save(self, order: Order, transition: Transition | None = None) -> None:
        await self.connection.execute(
            update(orders).where(orders.c.id == order.id).values(
                state=order.state.value, flag=order.flag, paid_at=order.paid_at,
                provider_transaction=order.provider_transaction, expiry_warned_at=order.expiry_warned_at,
                updated_at=func.now(),
            )
        )  # fmt: skip
        if transition is not None:
            await self.connection.execute(_insert_transition(order.id, transition))

    async def history(self, order_id: str) -> list[Transition]:
        query = (
            select(order_transitions).where(order_transitions.c.order_id == order_id).order_by(order_transitions.c.id)
        )
        return [
            Transition(OrderState(r.previous) if r.previous else None, OrderState(r.state), r.source, r.detail, r.at)
            for r in await self.connection.execute(query)
        ]

    async def expirable(self, now: datetime, limit: int) -> list[str]:
        query = (
            select(orders.c.id)
            .where(orders.c.state.in_(_OPEN), orders.c.expires_at < now)
            .order_by(orders.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [str(r.id) for r in await self.connection.execute(query)]

    async def expiring(self, now: datetime, until: datetime, limit: int) -> list[Order]:
        query = (
            select(orders)
            .where(
                orders.c.state.in_(_OPEN), orders.c.expiry_warned_at.is_(None), orders.c.expires_at > now,
                orders.c.expires_at <= until,
            )
            .order_by(orders.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )  # fmt: skip
        return [_order(row) for row in await self.connection.execute(query)]

    async def by_references(self, references: Sequence[str]) -> dict[str, Order]:
        if not references:
            return {}
        query = select(orders).where(orders.c.reference.in_(references))
        return {row.reference: _order(row) for row in await self.connection.execute(query)}

    async def paid_between(self, provider: Provider, since: datetime, until: datetime) -> list[Order]:
        query = select(orders).where(
            orders.c.provider == provider.value, orders.c.state.in_(_PAID), orders.c.paid_at >= since,
            orders.c.paid_at < until,
        )  # fmt: skip
        return [_order(row) for row in await self.connection.execute(query)]

    async def pending_since(self, provider: Provider, before: datetime, limit: int) -> list[Order]:
        query = (
            select(orders)
            .where(
                orders.c.provider == provider.value,
                orders.c.state == OrderState.PENDING.value,
                orders.c.created_at < before,
            )
            .order_by(orders.c.created_at)
            .limit(limit)
        )
        return [_order(row) for row in await self.connection.execute(query)]


class SqlReceipts:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, receipt: Receipt) -> None:
        await self.connection.execute(insert(receipts).values(
            order_id=receipt.order_id, number=receipt.number, jws=receipt.jws, issued_at=receipt.issued_at,
        ))  # fmt: skip

    async def of(self, order_id: str) -> Receipt | None:
        row = (await self.connection.execute(select(receipts).where(receipts.c.order_id == order_id))).first()
        return Receipt(row.order_id, row.number, row.jws, row.issued_at) if row is not None else None

    async def keys(self) -> list[ReceiptKey]:
        query = select(receipt_keys).order_by(receipt_keys.c.created_at.desc())
        return [ReceiptKey(r.kid, r.private_key, r.public_jwk) for r in await self.connection.execute(query)]

    async def add_key(self, key: ReceiptKey) -> None:
        await self.connection.execute(
            insert(receipt_keys).values(kid=key.kid, private_key=key.private_key, public_jwk=dict(key.public_jwk))
        )

    async def lock_keys(self) -> None:
        name = "payment.receipt-key"
        await self.connection.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(name, 0))))


class SqlCallbacks:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, callback: Callback) -> None:
        await self.connection.execute(insert(callbacks).values(
            provider=callback.provider, remote_addr=callback.remote_addr, method=callback.method,
            query=callback.query, headers=dict(callback.headers), body=callback.body, verified=callback.verified,
            order_reference=callback.order_reference, outcome=callback.outcome,
        ))  # fmt: skip


class SqlIdempotencyKeys:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def replayed(self, owner: str, key: str, fingerprint: str) -> str | None:
        return await idempotency.replayed(self.connection, idempotency_keys, owner, key, fingerprint)

    async def remember(self, owner: str, key: str, fingerprint: str, order_id: str) -> None:
        await idempotency.remember(self.connection, idempotency_keys, owner, key, fingerprint, order_id)
