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


async def test_an_unreadable_statement_is_refused(uow: FakePaymentUnitOfWork) -> None:
    async with uow:
        with pytest.raises(ValidationFailed) as unreadable:
            await reconcile_statement(uow, "a,b\n1,2\n", provider=Provider.VNPAY, since=SINCE, until=UNTIL)
    assert unreadable.value.extra["errors"][0]["field"] == "header"


@pytest.mark.parametrize("period", ["inverted", "empty"])
async def test_a_period_that_ends_when_or_before_it_starts_holds_no_order(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess, period: str
) -> None:
    first, unlisted = [await paid_order(uow, settings, assess, f"T{i}") for i in range(2)]
    statement = f"transaction_id,reference,amount,status\nT0,{first},{TOTAL},00\n"
    since, until = (UNTIL, SINCE) if period == "inverted" else (PAID_AT, PAID_AT)
    async with uow:
        done = await reconcile_statement(uow, statement, provider=Provider.VNPAY, since=since, until=until)
    # No order is expected in it (the unlisted paid order is not missing), and each line is still
    # judged against the order it names.
    assert (done.since, done.until, done.lines) == (since, until, 1)
    assert done.report.summary() == {"matched": 1, "amount_mismatch": 0, "missing_ours": 0, "missing_theirs": 0}
    assert unlisted not in [m.reference for m in done.report.missing_theirs]
