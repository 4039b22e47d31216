"""The payment service's unit of work on PostgreSQL: the kit's unit with the service's
repositories on its connection."""

from __future__ import annotations

from typing import Self

from services.kit.db import UnitOfWork

from ..service.unit_of_work import PaymentUnitOfWork
from .repository import SqlAssessments, SqlCallbacks, SqlIdempotencyKeys, SqlOrders, SqlReceipts


class SqlPaymentUnitOfWork(UnitOfWork, PaymentUnitOfWork):
    async def __aenter__(self) -> Self:
        await super().__aenter__()
        connection = self.connection
        self.assessments = SqlAssessments(connection)
        self.orders = SqlOrders(connection)
        self.receipts = SqlReceipts(connection)
        self.callbacks = SqlCallbacks(connection)
        self.idempotency = SqlIdempotencyKeys(connection)
        return self
