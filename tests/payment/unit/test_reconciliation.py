"""A provider's statement reconciled with the orders paid in its period, on the fake unit of work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.kit.errors import ValidationFailed
from services.payment.domain.orders import Provider
from services.payment.service import orders
from services.payment.service.reconciliation import reconcile_statement
from services.payment.settings import PaymentSettings
from tests.payment.fakes import FakePaymentUnitOfWork
from tests.payment.unit.conftest import OWNER, Assess
from tests.support.payment import TOTAL

PAID_AT = datetime(2025, 12, 3, 9, 0, tzinfo=UTC)
SINCE, UNTIL = PAID_AT - timedelta(days=1), PAID_AT + timedelta(days=1)


async def paid_order(uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess, transaction: str) -> str:
    assessed = await assess()
    async with uow:
        details, _ = await orders.create_order(uow, settings, OWNER, assessed.dossier_id, Provider.VNPAY,
                                               idempotency_key=None, client_ip="127.0.0.1")  # fmt: skip
        await orders.succeed(uow, settings, details.order, provider_transaction=transaction, paid_at=PAID_AT,
                             source="callback")  # fmt: skip
        await uow.commit()
    return details.order.reference


async def test_each_line_and_each_paid_order_of_the_period_lands_in_one_bucket(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess
) -> None:
    first, second, unlisted = [await paid_order(uow, settings, assess, f"T{i}") for i in range(3)]
    statement = ("transaction_id,reference,amount,status\n"
                 f"T0,{first},{TOTAL},00\nT1,CK {second},{TOTAL - 1},00\nT9,DVC25010100000077,50000,00\n")  # fmt: skip
    async with uow:
        done = await reconcile_statement(uow, statement, provider=Provider.VNPAY, since=SINCE, until=UNTIL)
        outside = await reconcile_statement(uow, statement, provider=Provider.VNPAY, since=UNTIL,
                                            until=UNTIL + timedelta(days=1))  # fmt: skip
    assert (done.lines, done.report.summary()) == (3, {"matched": 1, "amount_mismatch": 1, "missing_ours": 1,
                                                       "missing_theirs": 1})  # fmt: skip
    assert [m.reference for m in done.report.matched] == [first]
    assert done.report.amount_mismatch[0].order_amount == TOTAL
    assert done.report.missing_theirs[0].reference == unlisted and not done.report.all_matched
    # Orders named by the statement count even when paid outside the period; the others do not.
    assert outside.report.summary() == {"matched": 1, "amount_mismatch": 1, "missing_ours": 1, "missing_theirs": 0}


async def test_a_period_that_ends_before_it_starts_or_an_unreadable_statement_is_refused(
    uow: FakePaymentUnitOfWork,
) -> None:
    async with uow:
        with pytest.raises(ValidationFailed):
            await reconcile_statement(uow, "transaction_id,reference,amount\n", provider=Provider.VNPAY,
                                      since=UNTIL, until=SINCE)  # fmt: skip
        with pytest.raises(ValidationFailed) as unreadable:
            await reconcile_statement(uow, "a,b\n1,2\n", provider=Provider.VNPAY, since=SINCE, until=UNTIL)
    assert unreadable.value.extra["errors"][0]["field"] == "header"
