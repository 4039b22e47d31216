"""Creating, showing, cancelling and expiring orders, and the assessments they are made from,
as use cases on the fake unit of work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.events.dossier import FeeLine, FeesAssessed
from services.kit.errors import Conflict, NotFound, PermanentFailure
from services.kit.idempotency import IdempotencyKeyReused
from services.payment.domain.orders import NothingToPay, OrderState, Provider, TransitionRefused, is_order_reference
from services.payment.service import orders
from services.payment.service.orders import BankTransfer, Redirect
from services.payment.settings import PaymentSettings
from tests.payment.fakes import FakePaymentUnitOfWork
from tests.payment.unit.conftest import OWNER, Assess
from tests.support.payment import TOTAL, VNPAY_SECRET
from tests.support.payment_protocols import vnpay_check, vnpay_query

NOW = datetime(2025, 12, 3, 20, 0, tzinfo=UTC)  # 4 December in Vietnam


async def create(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, dossier_id: str, provider: Provider = Provider.VNPAY, *,
    owner: str = OWNER, key: str | None = None,
) -> tuple[orders.OrderDetails, bool]:  # fmt: skip
    async with uow:
        made = await orders.create_order(uow, settings, owner, dossier_id, provider, idempotency_key=key,
                                         client_ip="203.0.113.7", now=NOW)  # fmt: skip
        await uow.commit()
    return made


async def test_an_order_charges_the_assessed_total_and_is_handed_to_the_provider(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess
) -> None:
    assessed = await assess()
    details, created = await create(uow, settings, assessed.dossier_id)
    order = details.order
    assert created and (order.amount, order.state, order.owner) == (TOTAL, OrderState.PENDING, OWNER)
    assert is_order_reference(order.reference) and order.reference.startswith("DVC251204")
    assert order.expires_at == NOW + timedelta(seconds=settings.order_ttl_seconds)
    assert [(t.previous, t.state) for t in details.history] == [(None, "created"), ("created", "pending")]
    assert await uow.orders.history(order.id) == details.history
    assert isinstance(details.pay, Redirect) and details.receipt is None
    query = vnpay_query(details.pay.url)
    assert vnpay_check(query, VNPAY_SECRET)
    assert (query["vnp_Amount"], query["vnp_TxnRef"], query["vnp_IpAddr"]) == (str(TOTAL * 100), order.reference,
                                                                               "203.0.113.7")  # fmt: skip
    assert uow.emitted == []  # nothing to tell anyone yet


async def test_a_vietqr_order_is_paid_by_a_transfer_naming_it(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess
) -> None:
    details, _ = await create(uow, settings, (await assess()).dossier_id, Provider.VIETQR)
    pay = details.pay
    assert isinstance(pay, BankTransfer)
    assert (pay.account, pay.transfer_note) == (settings.vietqr_account, details.order.reference)
    assert details.order.reference in pay.payload
    async with uow:
        png = await orders.vietqr_png(uow, settings, OWNER, details.order.id)
    assert png.startswith(b"\x89PNG")


async def test_orders_are_refused_for_what_is_not_the_callers_to_pay(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess
) -> None:
    with pytest.raises(NotFound):
        await create(uow, settings, "00000000-0000-0000-0000-000000000000")  # never assessed
    theirs = await assess(owner="citizen-2")
    with pytest.raises(NotFound):
        await create(uow, settings, theirs.dossier_id)
    free = await assess(amounts=(0,))
    with pytest.raises(NothingToPay):
        await create(uow, settings, free.dossier_id)
    assert uow.orders.rows == {}


async def test_a_dossier_has_one_open_or_paid_order_at_a_time(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess
) -> None:
    dossier_id = (await assess()).dossier_id
    first, _ = await create(uow, settings, dossier_id)
    with pytest.raises(Conflict) as open_one:
        await create(uow, settings, dossier_id, Provider.VIETQR)
    assert open_one.value.extra == {"order_id": first.order.id}
    async with uow:
        cancelled = await orders.cancel(uow, OWNER, first.order.id)
        await uow.commit()
    assert cancelled.state is OrderState.CANCELLED
    second, created = await create(uow, settings, dossier_id)  # a cancelled order frees the dossier
    assert created and second.order.id != first.order.id
    assert second.order.reference != first.order.reference


async def test_an_idempotency_key_makes_one_order_and_refuses_another_request(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess
) -> None:
    dossier_id = (await assess()).dossier_id
    first, created = await create(uow, settings, dossier_id, key="pay-1")
    again, created_again = await create(uow, settings, dossier_id, key="pay-1")
    assert (created, created_again) == (True, False)
    assert again.order == first.order and again.history == first.history
    with pytest.raises(IdempotencyKeyReused):
        await create(uow, settings, dossier_id, Provider.VIETQR, key="pay-1")
    other_payer, _ = await create(uow, settings, (await assess(owner="citizen-2")).dossier_id, owner="citizen-2",
                                  key="pay-1")  # fmt: skip
    assert other_payer.order.id != first.order.id  # keys are per caller
    assert len(uow.orders.rows) == 2


async def test_only_the_owner_sees_an_order_and_a_paid_one_cannot_be_cancelled(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess
) -> None:
    details, _ = await create(uow, settings, (await assess()).dossier_id)
    order_id = details.order.id
    async with uow:
        with pytest.raises(NotFound):
            await orders.order_details(uow, settings, "citizen-2", order_id, client_ip="127.0.0.1")
        with pytest.raises(NotFound):
            await orders.cancel(uow, "citizen-2", order_id)
        order = await uow.orders.get(order_id, lock=True)
        assert order is not None
        await orders.succeed(uow, settings, order, provider_transaction="T1", paid_at=NOW, source="callback")
        await uow.commit()
    async with uow:
        with pytest.raises(TransitionRefused):
            await orders.cancel(uow, OWNER, order_id)
        seen = await orders.order_details(uow, settings, OWNER, order_id, client_ip="127.0.0.1")
    assert seen.order.state is OrderState.SUCCEEDED and seen.pay is None and seen.receipt is not None


async def test_open_orders_past_their_time_expire_and_others_stay(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess
) -> None:
    overdue, _ = await create(uow, settings, (await assess()).dossier_id)
    paid, _ = await create(uow, settings, (await assess()).dossier_id)
    async with uow:
        order = await uow.orders.get(paid.order.id, lock=True)
        assert order is not None
        await orders.succeed(uow, settings, order, provider_transaction="T1", paid_at=NOW, source="callback")
        await uow.commit()
    later = NOW + timedelta(seconds=settings.order_ttl_seconds + 1)
    async with uow:
        assert await orders.expire_due(uow, NOW) == 0  # not yet
        assert await orders.expire_due(uow, later) == 1
        await uow.commit()
    expired = uow.orders.rows[overdue.order.id]
    assert expired.state is OrderState.EXPIRED
    assert uow.orders.transitions[expired.id][-1].source == "expiry"
    assert uow.orders.transitions[expired.id][-1].at == later
    assert uow.orders.rows[paid.order.id].state is OrderState.SUCCEEDED
    assert uow.types() == ["payment.order.succeeded.v1", "payment.order.failed.v1"]
    assert uow.emitted[-1].data["reason"] == "expired" and uow.emitted[-1].subject == expired.id
    async with uow:
        assert await orders.expire_due(uow, later + timedelta(hours=1)) == 0
        await uow.commit()
    assert len(uow.emitted) == 2


async def test_only_a_paid_order_is_refunded_and_only_once(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess
) -> None:
    details, _ = await create(uow, settings, (await assess()).dossier_id)
    async with uow:
        with pytest.raises(TransitionRefused):
            await orders.refund(uow, details.order.id, "payer asked", "operator-1")
        order = await uow.orders.get(details.order.id, lock=True)
        assert order is not None
        await orders.succeed(uow, settings, order, provider_transaction="T1", paid_at=NOW, source="callback")
        refunded = await orders.refund(uow, details.order.id, "paid twice", "operator-1")
        with pytest.raises(TransitionRefused):
            await orders.refund(uow, details.order.id, "again", "operator-1")
        with pytest.raises(NotFound):
            await orders.refund(uow, "00000000-0000-0000-0000-000000000000", "none", "operator-1")
    assert refunded.state is OrderState.REFUNDED
    assert uow.orders.transitions[refunded.id][-1].detail == "operator-1: paid twice"


async def test_an_assessment_is_kept_as_its_dossiers_latest_and_must_add_up(uow: FakePaymentUnitOfWork) -> None:
    lines = [FeeLine(code="LP01", name="Lệ phí", amount=100_000)]
    event = FeesAssessed(dossier_id="d-1", code="C-1", owner=OWNER, agency_code="A", lines=lines, total=100_000)
    again = FeesAssessed(dossier_id="d-1", code="C-1", owner=OWNER, agency_code="A", lines=lines * 2, total=200_000)
    async with uow:
        await orders.apply_fees_assessed(uow, event)
        await orders.apply_fees_assessed(uow, again)
        with pytest.raises(PermanentFailure):
            await orders.apply_fees_assessed(uow, FeesAssessed(dossier_id="d-2", code="C-2", owner=OWNER,
                                                               agency_code="A", lines=lines, total=1))  # fmt: skip
    kept = uow.assessments.rows
    assert list(kept) == ["d-1"] and kept["d-1"].total == 200_000 and len(kept["d-1"].lines) == 2
