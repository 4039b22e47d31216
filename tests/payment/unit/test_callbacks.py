"""The providers' callbacks as use cases on the fake unit of work: a payment settles its order
once, with a receipt and one PaymentSucceeded; what cannot be believed changes nothing and is
kept, its secrets redacted."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from jose import jwt

from contracts.events.payment import PaymentFailed, PaymentSucceeded
from services.payment.domain.callbacks import REDACTED, Callback, RawCallback
from services.payment.domain.orders import Order, OrderState, Provider
from services.payment.service import callbacks, orders
from services.payment.settings import PaymentSettings
from tests.payment.fakes import FakePaymentUnitOfWork
from tests.payment.unit.conftest import OWNER, Assess
from tests.support.payment import BANK_SECRETS, TOTAL, VNPAY_SECRET
from tests.support.payment_protocols import bank_signature, vnpay_ipn

PAID_AT = datetime(2025, 12, 3, 2, 30, 5, tzinfo=UTC)  # 09:30:05 in Vietnam, as the helpers sign it


async def new_order(uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess,
                    provider: Provider = Provider.VNPAY) -> Order:  # fmt: skip
    assessed = await assess()
    async with uow:
        details, _ = await orders.create_order(uow, settings, OWNER, assessed.dossier_id, provider,
                                               idempotency_key=None, client_ip="127.0.0.1")  # fmt: skip
        await uow.commit()
    return details.order


async def ipn(uow: FakePaymentUnitOfWork, settings: PaymentSettings, params: dict[str, str]) -> tuple[str, str]:
    raw = RawCallback(method="GET", remote_addr="203.0.113.9", query=params, headers={}, body=b"")
    async with uow:
        answer = await callbacks.vnpay_ipn(uow, settings, raw)
        await uow.commit()
    return answer.code, answer.message


def transfer(reference: str, amount: int = TOTAL, transaction: str = "FT2533712345") -> bytes:
    return json.dumps({"transaction_id": transaction, "bank_bin": "970436", "account": "0011001234567",
                       "amount": amount, "description": f"CK {reference} nop phi",
                       "transferred_at": "2025-12-03T09:30:05+07:00"}).encode()  # fmt: skip


async def notify(uow: FakePaymentUnitOfWork, settings: PaymentSettings, body: bytes,
                 secret: str = BANK_SECRETS[0]) -> callbacks.BankAnswer:  # fmt: skip
    headers = {"X-Signature": bank_signature(body, secret, int(time.time())), "Content-Type": "application/json"}
    raw = RawCallback(method="POST", remote_addr="203.0.113.9", query={}, headers=headers, body=body)
    async with uow:
        answer = await callbacks.bank_notification(uow, settings, raw)
        await uow.commit()
    return answer


async def test_a_paid_ipn_settles_the_order_once_with_a_receipt_and_one_event(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess, signing_key: object
) -> None:
    order = await new_order(uow, settings, assess)
    params = vnpay_ipn(VNPAY_SECRET, txn_ref=order.reference, amount_vnd=TOTAL)
    assert await ipn(uow, settings, params) == ("00", "Confirm Success")
    assert await ipn(uow, settings, params) == ("02", "Order already confirmed")
    paid = uow.orders.rows[order.id]
    assert (paid.state, paid.paid_at, paid.provider_transaction) == (OrderState.SUCCEEDED, PAID_AT, "15283345")
    receipt = uow.receipts.rows[order.id]
    assert receipt.number == f"BL-{order.reference}"
    [event] = uow.emitted
    assert event.type == PaymentSucceeded.TYPE and event.subject == order.id
    assert PaymentSucceeded.model_validate(event.data) == PaymentSucceeded(
        order_id=order.id, dossier_id=order.dossier_id, dossier_code=order.dossier_code, owner=order.owner,
        amount=TOTAL, provider="vnpay", receipt_number=receipt.number, paid_at=PAID_AT,
    )  # fmt: skip
    claims = jwt.get_unverified_claims(receipt.jws)
    assert (claims["amount"], claims["order_reference"], claims["provider_transaction"]) == (
        TOTAL, order.reference, "15283345"
    )  # fmt: skip
    assert [c.outcome for c in uow.callbacks.rows] == ["00 Confirm Success", "02 Order already confirmed"]


async def test_a_declined_ipn_fails_the_order_and_says_so_once(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess
) -> None:
    order = await new_order(uow, settings, assess)
    declined = vnpay_ipn(VNPAY_SECRET, txn_ref=order.reference, amount_vnd=TOTAL, response_code="24",
                         transaction_status="02")  # fmt: skip
    assert await ipn(uow, settings, declined) == ("00", "Confirm Success")
    assert uow.orders.rows[order.id].state is OrderState.FAILED
    paid_late = vnpay_ipn(VNPAY_SECRET, txn_ref=order.reference, amount_vnd=TOTAL)
    assert await ipn(uow, settings, paid_late) == ("02", "Order already confirmed")
    assert uow.orders.rows[order.id].flag == "late-payment"
    [event] = uow.emitted  # the decline, once; the late payment tells no one
    failed = PaymentFailed.model_validate(event.data)
    assert (event.type, event.subject) == (PaymentFailed.TYPE, order.id)
    assert (failed.order_id, failed.owner, failed.amount, failed.reason) == (order.id, OWNER, TOTAL, "declined")


@pytest.mark.parametrize(
    ("secret", "amount", "expected", "flag"),
    [("guessed", TOTAL, ("97", "Invalid signature"), None), (VNPAY_SECRET, TOTAL - 1, ("04", "Invalid amount"),
     "amount-mismatch")],
)  # fmt: skip
async def test_an_ipn_that_cannot_be_believed_changes_nothing_but_is_kept_redacted(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess, secret: str, amount: int,
    expected: tuple[str, str], flag: str | None,
) -> None:  # fmt: skip
    order = await new_order(uow, settings, assess)
    assert await ipn(uow, settings, vnpay_ipn(secret, txn_ref=order.reference, amount_vnd=amount)) == expected
    kept = uow.orders.rows[order.id]
    assert (kept.state, kept.flag) == (OrderState.PENDING, flag) and uow.emitted == []
    [logged] = uow.callbacks.rows
    assert logged.verified is (secret == VNPAY_SECRET) and logged.order_reference == order.reference
    assert f"vnp_SecureHash={REDACTED}" in (logged.query or "")


async def test_a_bank_transfer_pays_once_and_a_second_payment_is_flagged(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess
) -> None:
    order = await new_order(uow, settings, assess, Provider.VIETQR)
    body = transfer(order.reference)
    assert await notify(uow, settings, body) == callbacks.BankAnswer("accepted", order.reference)
    # The same notification again (signed with the other active secret): accepted, nothing new.
    assert await notify(uow, settings, body, BANK_SECRETS[1]) == callbacks.BankAnswer("accepted", order.reference)
    twice = await notify(uow, settings, transfer(order.reference, transaction="FT-another"))
    assert twice == callbacks.BankAnswer("flagged", order.reference)
    paid = uow.orders.rows[order.id]
    assert (paid.state, paid.provider_transaction, paid.flag) == (OrderState.SUCCEEDED, "FT2533712345",
                                                                  "duplicate-payment")  # fmt: skip
    assert uow.types() == [PaymentSucceeded.TYPE]
    assert all(c.headers["X-Signature"] == REDACTED for c in uow.callbacks.rows)


async def test_bank_notifications_that_pay_nothing_say_why(
    uow: FakePaymentUnitOfWork, settings: PaymentSettings, assess: Assess
) -> None:
    order = await new_order(uow, settings, assess, Provider.VIETQR)
    short = await notify(uow, settings, transfer(order.reference, TOTAL - 1000))
    unknown = await notify(uow, settings, transfer("DVC25010100009999"))
    elsewhere = await notify(uow, settings, transfer(order.reference).replace(b"0011001234567", b"999"))
    malformed = await notify(uow, settings, b"not json")
    assert [short, unknown, elsewhere, malformed] == [
        callbacks.BankAnswer("flagged", order.reference), callbacks.BankAnswer("unmatched", "DVC25010100009999"),
        callbacks.BankAnswer("ignored", None), callbacks.BankAnswer("malformed"),
    ]  # fmt: skip
    assert uow.orders.rows[order.id].state is OrderState.PENDING and uow.emitted == []
    with pytest.raises(callbacks.SignatureInvalid):
        await notify(uow, settings, transfer(order.reference), secret="not-ours")
    assert uow.callbacks.rows[-1].verified is False and uow.callbacks.rows[-1].outcome.startswith("refused")


def test_the_record_of_a_call_holds_only_what_a_text_column_can() -> None:
    raw = RawCallback(method="POST", remote_addr="127.0.0.1", query={"vnp_TxnRef": "a\x00b", "x": "\ud800"},
                      headers={"x-note": "ok"}, body=b"\x00{}")  # fmt: skip
    kept = Callback.received("bank", raw, verified=False, reference=None, outcome="bad-signature")
    assert kept.query is not None and kept.body is not None
    assert "\x00" not in kept.query + kept.body and kept.query.startswith("vnp_TxnRef=a\ufffdb&x=")
    assert kept.body == "\ufffd{}"
    kept.query.encode("utf-8")  # no lone surrogate left: it would raise
