"""Use cases of payment orders: the assessments the dossier service sends, creating an order
for them, expiry, what the owner sees, and settling a paid order.

An order's amount is the assessed total, never a number from a client. An order moves only
along ``domain.orders.ALLOWED`` (:meth:`Order.move`), each move a recorded transition; the order
is locked for every change, so callbacks delivered many times at once change it once. A success
issues the receipt and emits :class:`PaymentSucceeded` (the dossier records the fee paid); a
decline or an expiry emits :class:`PaymentFailed`, and an open order close to its expiry
:class:`PaymentExpiring`, each in the transaction of the change, so once per order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contracts.events.dossier import FeesAssessed
from contracts.events.payment import PaymentExpiring, PaymentFailed, PaymentSucceeded
from services.kit import idempotency
from services.kit.assurance import check_assurance
from services.kit.db import Database
from services.kit.errors import Conflict, NotFound, PermanentFailure
from services.kit.ids import new_id

from ..adapters.provider_query import StatusQuery
from ..domain import vietqr, vnpay
from ..domain.orders import (
    FAILURE_REASONS,
    Assessment,
    FeeLine,
    Order,
    OrderState,
    Provider,
    Transition,
    local_day,
    order_reference,
)
from ..domain.receipts import Receipt
from ..settings import PaymentSettings
from . import receipts
from .unit_of_work import PaymentUnitOfWork, transaction


@dataclass(frozen=True, slots=True)
class Redirect:
    """Pay on the provider's page (VNPay): a signed URL."""

    url: str


@dataclass(frozen=True, slots=True)
class BankTransfer:
    """Pay by a bank transfer (VietQR): the code's payload and, for typing it in, the account and
    the note that names the order."""

    payload: str
    bank_bin: str
    account: str
    transfer_note: str


PayInstructions = Redirect | BankTransfer


@dataclass(frozen=True, slots=True)
class OrderDetails:
    """An order as its owner sees it: how to pay it (while pending), its receipt, its history."""

    order: Order
    pay: PayInstructions | None
    receipt: Receipt | None
    history: list[Transition]


# --- assessments ----------------------------------------------------------------------------


async def apply_fees_assessed(uow: PaymentUnitOfWork, event: FeesAssessed) -> None:
    assessment = Assessment(
        dossier_id=event.dossier_id, dossier_code=event.code, owner=event.owner, agency_code=event.agency_code,
        lines=tuple(FeeLine(line.code, line.name, line.amount) for line in event.lines), total=event.total,
        required_acr=event.required_acr,
    )  # fmt: skip
    if not assessment.adds_up:
        raise PermanentFailure(f"FeesAssessed: lines do not add up to the total for dossier {event.dossier_id}")
    await uow.assessments.save(assessment)


# --- orders ---------------------------------------------------------------------------------


async def create_order(
    uow: PaymentUnitOfWork, settings: PaymentSettings, owner: str, dossier_id: str, provider: Provider, *,
    idempotency_key: str | None, client_ip: str, now: datetime | None = None, acr: object = None,
    auth_time: object = None,
) -> tuple[OrderDetails, bool]:  # fmt: skip
    """An order for a dossier's assessed fees with the chosen provider; (details, created now).
    The same ``idempotency_key`` again gives the order it made (not created now). The payer's
    sign-in (``acr``, ``auth_time``: the token's) is judged against the level the dossier's
    online service requires, as the submission was (RFC 9470 challenge)."""
    now = now or datetime.now(UTC)
    fingerprint = idempotency.request_hash({"dossier_id": dossier_id, "provider": provider.value})
    if idempotency_key is not None:
        known = await uow.idempotency.replayed(owner, idempotency_key, fingerprint)
        if known is not None:
            return await order_details(uow, settings, owner, known, client_ip=client_ip), False
    assessment = await uow.assessments.get(dossier_id)
    if assessment is None:
        raise NotFound("No fees assessed for such a dossier of yours (yet).")
    assessment.check_payable_by(owner)
    check_assurance(acr, auth_time, required=assessment.required_acr, now=now)
    live = await uow.orders.live_of(dossier_id)
    if live is not None:
        if live.state is OrderState.SUCCEEDED:
            raise Conflict("The fees of this dossier are paid.")
        raise Conflict("An order for this dossier is open; pay or cancel it first.", order_id=live.id)
    day = local_day(now)
    order, history = Order.open(
        id=new_id(), reference=order_reference(day, await uow.orders.next_reference_number(day)),
        assessment=assessment, owner=owner, provider=provider, now=now,
        ttl=timedelta(seconds=settings.order_ttl_seconds),
    )  # fmt: skip
    await uow.orders.add(order, history)
    if idempotency_key is not None:
        await uow.idempotency.remember(owner, idempotency_key, fingerprint, order.id)
    return OrderDetails(order, instructions(settings, order, client_ip), None, history), True


def instructions(settings: PaymentSettings, order: Order, client_ip: str) -> PayInstructions:
    """How the payer pays: a signed VNPay URL, or the VietQR payload to scan. The reference is
    also the QR's purpose, which banking apps copy into the transfer's description: that is
    how the bank's notification names the order."""
    if order.provider is Provider.VIETQR:
        text = vietqr.payload(bank_bin=settings.vietqr_bank_bin, account=settings.vietqr_account,
                              amount_vnd=order.amount, reference=order.reference,
                              merchant_name=settings.vietqr_account_name, purpose=order.reference)  # fmt: skip
        return BankTransfer(payload=text, bank_bin=settings.vietqr_bank_bin, account=settings.vietqr_account,
                            transfer_note=order.reference)  # fmt: skip
    url = vnpay.payment_url(
        settings.vnpay_pay_url, tmn_code=settings.vnpay_tmn_code, secret=settings.vnpay_hash_secret.get_secret_value(),
        txn_ref=order.reference, amount_vnd=order.amount, order_info=f"Thanh toan phi ho so {order.dossier_code}",
        return_url=settings.return_url, ip_addr=client_ip, created_at=order.created_at, expires_at=order.expires_at,
    )  # fmt: skip
    return Redirect(url)


async def owned_order(uow: PaymentUnitOfWork, owner: str, order_id: str, *, lock: bool = False) -> Order:
    order = await uow.orders.get(order_id, lock=lock)
    if order is None or order.owner != owner:
        raise NotFound("No such order.")
    return order


async def order_details(
    uow: PaymentUnitOfWork, settings: PaymentSettings, owner: str, order_id: str, *, client_ip: str
) -> OrderDetails:
    order = await owned_order(uow, owner, order_id)
    pay = instructions(settings, order, client_ip) if order.state is OrderState.PENDING else None
    return OrderDetails(order, pay, await uow.receipts.of(order_id), await uow.orders.history(order_id))


async def vietqr_png(uow: PaymentUnitOfWork, settings: PaymentSettings, owner: str, order_id: str) -> bytes:
    order = await owned_order(uow, owner, order_id)
    pay = instructions(settings, order, "")
    if not isinstance(pay, BankTransfer) or order.state is not OrderState.PENDING:
        raise Conflict("Only an open VietQR order has a code to scan.")
    return vietqr.png(pay.payload)


async def cancel(uow: PaymentUnitOfWork, owner: str, order_id: str) -> Order:
    order = await owned_order(uow, owner, order_id, lock=True)
    await move(uow, order, OrderState.CANCELLED, source="owner", detail="cancelled by the payer")
    return order


async def refund(uow: PaymentUnitOfWork, order_id: str, reason: str, operator: str) -> Order:
    """An operator records that a paid order was refunded (the provider moved the money back):
    the one change a paid order allows."""
    order = await uow.orders.get(order_id, lock=True)
    if order is None:
        raise NotFound("No such order.")
    await move(uow, order, OrderState.REFUNDED, source="operator", detail=f"{operator}: {reason}")
    return order


# --- moving an order ------------------------------------------------------------------------


async def move(
    uow: PaymentUnitOfWork, order: Order, target: OrderState, *, source: str, detail: str | None = None,
    at: datetime | None = None,
) -> None:  # fmt: skip
    """One allowed transition of a locked order, recorded; an order ending unpaid says so."""
    transition = order.move(target, source=source, detail=detail, at=at or datetime.now(UTC))
    await uow.orders.save(order, transition)
    reason = FAILURE_REASONS.get(order.state)
    if reason is not None:
        await uow.emit(
            PaymentFailed(
                order_id=order.id, dossier_id=order.dossier_id, dossier_code=order.dossier_code, owner=order.owner,
                amount=order.amount, currency="VND", reason=reason, failed_at=transition.at,
            ),
            key=order.id,
        )  # fmt: skip


async def succeed(
    uow: PaymentUnitOfWork, settings: PaymentSettings, order: Order, *, provider_transaction: str | None,
    paid_at: datetime, source: str,
) -> Receipt:  # fmt: skip
    """The order is paid: its state, its receipt, and the event the dossier service applies."""
    changed = order.succeed(provider_transaction=provider_transaction, paid_at=paid_at, source=source,
                            at=datetime.now(UTC))  # fmt: skip
    await uow.orders.save(order, changed)
    receipt = await receipts.issue(uow, settings, order, paid_at)
    await uow.emit(
        PaymentSucceeded(
            order_id=order.id, dossier_id=order.dossier_id, dossier_code=order.dossier_code, owner=order.owner,
            amount=order.amount, currency="VND", provider=order.provider.value, receipt_number=receipt.number,
            paid_at=paid_at,
        ),
        key=order.id,
    )  # fmt: skip
    return receipt


async def expire_due(uow: PaymentUnitOfWork, now: datetime, limit: int = 500) -> int:
    """Open orders past their time-to-live expire (the provider would refuse them too)."""
    due = await uow.orders.expirable(now, limit)
    for order_id in due:
        order = await uow.orders.get(order_id, lock=True)
        if order is not None and not order.is_final:
            await move(uow, order, OrderState.EXPIRED, source="expiry", detail="time to pay ran out", at=now)
    return len(due)


async def warn_expiring(uow: PaymentUnitOfWork, now: datetime, lead: timedelta, limit: int) -> int:
    """Open orders expiring within ``lead`` of ``now`` and not warned yet are marked warned and
    announced (:class:`PaymentExpiring`), at most ``limit``; how many. Orders another unit holds
    are skipped: that unit settles them, or a later run warns them."""
    warned = 0
    for order in await uow.orders.expiring(now, now + lead, limit):
        if not order.warn_of_expiry(now=now, lead=lead):
            continue
        await uow.orders.save(order)
        await uow.emit(
            PaymentExpiring(
                order_id=order.id, dossier_id=order.dossier_id, dossier_code=order.dossier_code, owner=order.owner,
                amount=order.amount, currency="VND", expires_at=order.expires_at,
            ),
            key=order.id,
        )  # fmt: skip
        warned += 1
    return warned


async def recheck_pending(
    db: Database, settings: PaymentSettings, query: StatusQuery, now: datetime, *, older_than: timedelta,
    limit: int = 100,
) -> dict[str, int]:  # fmt: skip
    """Ask the provider about VNPay orders still pending after ``older_than`` (a late or lost
    IPN): paid for the order's amount → succeeded; declined → failed; anything else → unchanged
    (a paid answer for another amount is flagged, never a success). Counts of each.

    The provider is asked with no transaction open (a slow provider holds no connection or row
    lock); each answer is then applied in its own transaction to the order locked and read again,
    so an IPN that arrived meanwhile wins and the answer changes nothing."""
    async with transaction(db) as uow:
        due = await uow.orders.pending_since(Provider.VNPAY, now - older_than, limit)
    counts = {"paid": 0, "declined": 0, "unchanged": 0}
    for asked in due:
        answer = await query.status(asked.reference, asked.created_at)
        async with transaction(db) as uow:
            order = await uow.orders.get(asked.id, lock=True)
            if order is None or order.state is not OrderState.PENDING or answer.status not in ("paid", "declined"):
                counts["unchanged"] += 1
            elif answer.status == "paid" and answer.amount_vnd == order.amount:
                await succeed(uow, settings, order, provider_transaction=answer.transaction,
                              paid_at=answer.paid_at or now, source="reconciliation")  # fmt: skip
                counts["paid"] += 1
            elif answer.status == "paid":
                order.flag_for_review(vnpay.FLAG_AMOUNT_MISMATCH)
                await uow.orders.save(order)
                counts["unchanged"] += 1
            else:
                await move(uow, order, OrderState.FAILED, source="reconciliation", detail="declined (status query)")
                counts["declined"] += 1
    return counts
