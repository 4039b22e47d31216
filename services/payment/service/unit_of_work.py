"""The payment service's unit of work as its use cases see it: the repositories it offers, as
ports. ``adapters/unit_of_work.py`` implements them on PostgreSQL; the tests' fake keeps them
in memory (``tests/payment/fakes.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Protocol

from services.kit.db import Database
from services.kit.unit_of_work import AbstractUnitOfWork

from ..domain.callbacks import Callback
from ..domain.orders import Assessment, Order, Provider, Transition
from ..domain.receipts import Receipt, ReceiptKey


class Assessments(Protocol):
    async def save(self, assessment: Assessment) -> None:
        """Keep ``assessment`` as its dossier's latest (a re-assessment replaces the one before)."""

    async def get(self, dossier_id: str) -> Assessment | None:
        """The dossier's assessment, locked until the end of the unit."""


class Orders(Protocol):
    async def next_reference_number(self, day: date) -> int:
        """The next sequence number of the orders of ``day`` (1, 2, ...)."""

    async def add(self, order: Order, history: Sequence[Transition]) -> None: ...

    async def get(self, order_id: str, *, lock: bool = False) -> Order | None: ...

    async def by_reference(self, reference: str, *, lock: bool = False) -> Order | None: ...

    async def live_of(self, dossier_id: str) -> Order | None:
        """The dossier's open or paid order (there is at most one), locked."""

    async def save(self, order: Order, transition: Transition | None = None) -> None:
        """Write ``order``'s state, flag and payment (a locked order), and the change that made it."""

    async def history(self, order_id: str) -> list[Transition]:
        """The order's transitions, oldest first."""

    async def expirable(self, now: datetime, limit: int) -> list[str]:
        """Ids of open orders past their time at ``now``, oldest first (skipping locked ones)."""

    async def expiring(self, now: datetime, until: datetime, limit: int) -> list[Order]:
        """Open orders not yet warned of their expiry that expire in (now, until], soonest first,
        locked (skipping those another unit holds)."""

    async def by_references(self, references: Sequence[str]) -> dict[str, Order]: ...

    async def paid_between(self, provider: Provider, since: datetime, until: datetime) -> list[Order]:
        """Orders of ``provider`` paid in [since, until) (refunded ones included)."""

    async def pending_since(self, provider: Provider, before: datetime, limit: int) -> list[Order]:
        """The oldest orders of ``provider`` still pending, created before ``before``."""


class Receipts(Protocol):
    async def add(self, receipt: Receipt) -> None: ...

    async def of(self, order_id: str) -> Receipt | None: ...

    async def keys(self) -> list[ReceiptKey]:
        """Every signing key, newest first."""

    async def add_key(self, key: ReceiptKey) -> None: ...

    async def lock_keys(self) -> None:
        """Hold the keys' lock until the end of the unit (replicas starting together make one key)."""


class Callbacks(Protocol):
    async def add(self, callback: Callback) -> None: ...


class IdempotencyKeys(Protocol):
    async def replayed(self, owner: str, key: str, fingerprint: str) -> str | None:
        """The order an earlier request with ``key`` made (None: first use); raises
        ``IdempotencyKeyReused`` when that request was another one."""

    async def remember(self, owner: str, key: str, fingerprint: str, order_id: str) -> None: ...


class PaymentUnitOfWork(AbstractUnitOfWork):
    assessments: Assessments
    orders: Orders
    receipts: Receipts
    callbacks: Callbacks
    idempotency: IdempotencyKeys


def payment_unit(uow: AbstractUnitOfWork) -> PaymentUnitOfWork:
    """The unit the kit made from the service's spec (``ServiceSpec.unit_of_work``), which the
    kit's signatures type as its own."""
    if not isinstance(uow, PaymentUnitOfWork):
        raise TypeError(f"the payment service runs on a PaymentUnitOfWork, not {type(uow).__name__}")
    return uow


@asynccontextmanager
async def transaction(db: Database) -> AsyncIterator[PaymentUnitOfWork]:
    """``db.transaction()``, typed as the payment unit: commits at the end unless an error escapes."""
    async with db.transaction() as uow:
        yield payment_unit(uow)
