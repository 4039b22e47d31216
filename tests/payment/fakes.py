"""The payment unit of work in memory: the repositories of ``service/unit_of_work.py`` as
dictionaries, for use-case tests without a database (milliseconds each).

Entities are stored as copies and handed out as copies, as a database would: a change a use case
makes to an order and never saves is not seen by the next read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from services.kit.idempotency import IdempotencyKeyReused
from services.payment.domain.callbacks import Callback
from services.payment.domain.orders import LIVE, OPEN, PAID, Assessment, Order, OrderState, Provider, Transition
from services.payment.domain.receipts import Receipt, ReceiptKey
from services.payment.service.unit_of_work import PaymentUnitOfWork
from tests.support.fakes import FakeUnitOfWork


class FakeAssessments:
    def __init__(self) -> None:
        self.rows: dict[str, Assessment] = {}

    async def save(self, assessment: Assessment) -> None:
        self.rows[assessment.dossier_id] = assessment

    async def get(self, dossier_id: str) -> Assessment | None:
        return self.rows.get(dossier_id)


class FakeOrders:
    def __init__(self) -> None:
        self.rows: dict[str, Order] = {}
        self.transitions: dict[str, list[Transition]] = {}
        self.sequences: dict[date, int] = {}

    async def next_reference_number(self, day: date) -> int:
        self.sequences[day] = self.sequences.get(day, 0) + 1
        return self.sequences[day]

    async def add(self, order: Order, history: Sequence[Transition]) -> None:
        if order.id in self.rows or any(o.reference == order.reference for o in self.rows.values()):
            raise ValueError(f"duplicate order {order.id} / {order.reference}")
        if order.state in LIVE and await self.live_of(order.dossier_id) is not None:
            raise ValueError(f"a second live order for dossier {order.dossier_id}")  # the unique index
        self.rows[order.id] = replace(order)
        self.transitions[order.id] = list(history)

    async def get(self, order_id: str, *, lock: bool = False) -> Order | None:
        found = self.rows.get(order_id)
        return replace(found) if found is not None else None

    async def by_reference(self, reference: str, *, lock: bool = False) -> Order | None:
        return next((replace(o) for o in self.rows.values() if o.reference == reference), None)

    async def live_of(self, dossier_id: str) -> Order | None:
        return next((replace(o) for o in self.rows.values() if o.dossier_id == dossier_id and o.state in LIVE), None)

    async def save(self, order: Order, transition: Transition | None = None) -> None:
        assert order.id in self.rows, "saving an order never added"
        self.rows[order.id] = replace(order)
        if transition is not None:
            self.transitions[order.id].append(transition)

    async def history(self, order_id: str) -> list[Transition]:
        return list(self.transitions.get(order_id, []))

    async def expirable(self, now: datetime, limit: int) -> list[str]:
        due = sorted((o for o in self.rows.values() if o.state in OPEN and o.expires_at < now),
                     key=lambda o: o.expires_at)  # fmt: skip
        return [o.id for o in due[:limit]]

    async def expiring(self, now: datetime, until: datetime, limit: int) -> list[Order]:
        due = sorted((o for o in self.rows.values()
                      if o.state in OPEN and o.expiry_warned_at is None and now < o.expires_at <= until),
                     key=lambda o: o.expires_at)  # fmt: skip
        return [replace(o) for o in due[:limit]]

    async def by_references(self, references: Sequence[str]) -> dict[str, Order]:
        return {o.reference: replace(o) for o in self.rows.values() if o.reference in references}

    async def paid_between(self, provider: Provider, since: datetime, until: datetime) -> list[Order]:
        return [replace(o) for o in self.rows.values() if o.provider is provider and o.state in PAID
                and o.paid_at is not None and since <= o.paid_at < until]  # fmt: skip

    async def pending_since(self, provider: Provider, before: datetime, limit: int) -> list[Order]:
        due = sorted((o for o in self.rows.values()
                      if o.provider is provider and o.state is OrderState.PENDING and o.created_at < before),
                     key=lambda o: o.created_at)  # fmt: skip
        return [replace(o) for o in due[:limit]]


class FakeReceipts:
    def __init__(self) -> None:
        self.rows: dict[str, Receipt] = {}
        self.signing_keys: list[ReceiptKey] = []  # newest first

    async def add(self, receipt: Receipt) -> None:
        if receipt.order_id in self.rows:
            raise ValueError(f"a second receipt for order {receipt.order_id}")  # the primary key
        self.rows[receipt.order_id] = receipt

    async def of(self, order_id: str) -> Receipt | None:
        return self.rows.get(order_id)

    async def keys(self) -> list[ReceiptKey]:
        return list(self.signing_keys)

    async def add_key(self, key: ReceiptKey) -> None:
        self.signing_keys.insert(0, key)

    async def lock_keys(self) -> None:
        pass


class FakeCallbacks:
    def __init__(self) -> None:
        self.rows: list[Callback] = []

    async def add(self, callback: Callback) -> None:
        self.rows.append(callback)


class FakeIdempotencyKeys:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[str, str]] = {}

    async def replayed(self, owner: str, key: str, fingerprint: str) -> str | None:
        known = self.rows.get((owner, key))
        if known is None:
            return None
        if known[0] != fingerprint:
            raise IdempotencyKeyReused()
        return known[1]

    async def remember(self, owner: str, key: str, fingerprint: str, order_id: str) -> None:
        self.rows[(owner, key)] = (fingerprint, order_id)


class FakePaymentUnitOfWork(FakeUnitOfWork, PaymentUnitOfWork):
    # The fakes themselves, so a test can look at what was written.
    assessments: FakeAssessments
    orders: FakeOrders
    receipts: FakeReceipts
    callbacks: FakeCallbacks
    idempotency: FakeIdempotencyKeys

    def __init__(self) -> None:
        super().__init__(source="payment", topic="payment.events")
        self.assessments = FakeAssessments()
        self.orders = FakeOrders()
        self.receipts = FakeReceipts()
        self.callbacks = FakeCallbacks()
        self.idempotency = FakeIdempotencyKeys()
