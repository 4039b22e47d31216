"""Use cases of payment orders: the assessments the dossier service sends, creating an order
for them, the providers' callbacks, expiry, and what the owner sees.

An order's amount is the assessed total, never a number from a client. An order moves only
along ``domain.orders.ALLOWED``, each move a row of ``order_transitions``; the order row is
locked for every change, so callbacks delivered many times at once change it once. A success
issues the receipt and emits ``payment.order.succeeded.v1`` (the dossier records the fee paid).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.events.dossier import FeesAssessed
from contracts.events.payment import PaymentSucceeded
from services.kit import idempotency
from services.kit.consumer import event_data
from services.kit.db import Database, UnitOfWork
from services.kit.errors import Conflict, DomainError, NotFound, PermanentFailure
from services.kit.ids import new_id
from services.kit.logging import get_logger

from ..adapters import repository as repo
from ..adapters.provider_query import StatusQuery
from ..adapters.tables import idempotency_keys
from ..domain import vietqr, vnpay
from ..domain.orders import TERMINAL, OrderState, Provider, check_transition, order_reference
from ..settings import PaymentSettings
from . import receipts

log = get_logger(__name__)

FEES_ASSESSED = FeesAssessed.TYPE
SUCCEEDED = PaymentSucceeded.TYPE
VIETNAM_OFFSET = timedelta(hours=7)


class NothingToPay(DomainError):
    """No fees are due for the dossier."""


# --- assessments ----------------------------------------------------------------------------


async def apply_fees_assessed(uow: UnitOfWork, data: Mapping[str, Any]) -> None:
    event = event_data(FeesAssessed, data)
    if sum(line.amount for line in event.lines) != event.total:
        raise PermanentFailure(f"FeesAssessed: lines do not add up to the total for dossier {event.dossier_id}")
    await repo.save_assessment(
        uow.connection,
        {"dossier_id": event.dossier_id, "dossier_code": event.code, "owner": event.owner,
         "agency_code": event.agency_code, "lines": [line.model_dump() for line in event.lines],
         "total": event.total},
    )  # fmt: skip


# --- orders ---------------------------------------------------------------------------------


async def create_order(
    uow: UnitOfWork,
    settings: PaymentSettings,
    owner: str,
    body: Mapping[str, Any],
    *,
    idempotency_key: str | None,
    client_ip: str,
    now: datetime | None = None,
) -> tuple[dict[str, Any], bool]:
    """An order for a dossier's assessed fees with the chosen provider; (view, created now)."""
    now = now or datetime.now(UTC)
    fingerprint = idempotency.request_hash(body)
    if idempotency_key is not None:
        known = await idempotency.replayed(uow.connection, idempotency_keys, owner, idempotency_key, fingerprint)
        if known is not None:
            return await order_view(uow, settings, owner, known, client_ip=client_ip), False
    dossier_id = str(body["dossier_id"])
    assessed = await repo.assessment(uow.connection, dossier_id)
    if assessed is None or assessed["owner"] != owner:
        raise NotFound("No fees assessed for such a dossier of yours (yet).")
    if assessed["total"] <= 0:
        raise NothingToPay("The dossier's assessed fees are zero.")
    live = await repo.live_order_of(uow.connection, dossier_id)
    if live is not None:
        if live["state"] == OrderState.SUCCEEDED:
            raise Conflict("The fees of this dossier are paid.")
        raise Conflict("An order for this dossier is open; pay or cancel it first.", order_id=str(live["id"]))
    local_day = (now + VIETNAM_OFFSET).date()
    reference = order_reference(local_day, await repo.next_reference_number(uow.connection, local_day))
    order_id = new_id()
    values = {
        "id": order_id,
        "reference": reference,
        "dossier_id": dossier_id,
        "dossier_code": assessed["dossier_code"],
        "owner": owner,
        "provider": str(Provider(body["provider"])),
        "amount": int(assessed["total"]),
        "state": OrderState.PENDING.value,
        "expires_at": now + timedelta(seconds=settings.order_ttl_seconds),
        "created_at": now,
    }
    await repo.insert_order(uow.connection, values)
    await repo.add_transition(uow.connection, {"order_id": order_id, "previous": None, "state": "created",
                                            "source": "owner", "detail": None, "at": now})  # fmt: skip
    await repo.add_transition(uow.connection, {"order_id": order_id, "previous": "created", "state": "pending",
                                            "source": "owner", "detail": f"sent to {values['provider']}",
                                            "at": now})  # fmt: skip
    if idempotency_key is not None:
        await idempotency.remember(uow.connection, idempotency_keys, owner, idempotency_key, fingerprint, order_id)
    return await order_view(uow, settings, owner, order_id, client_ip=client_ip), True


def instructions(settings: PaymentSettings, order: Mapping[str, Any], client_ip: str) -> dict[str, Any]:
    """How the payer pays: a signed VNPay URL, or the VietQR payload to scan. The reference is
    also the QR's purpose, which banking apps copy into the transfer's description: that is
    how the bank's notification names the order."""
    provider = Provider(order["provider"])
    info = f"Thanh toan phi ho so {order['dossier_code']}"
    if provider is Provider.VIETQR:
        text = vietqr.payload(bank_bin=settings.vietqr_bank_bin, account=settings.vietqr_account,
                              amount_vnd=int(order["amount"]), reference=order["reference"],
                              merchant_name=settings.vietqr_account_name,
                              purpose=order["reference"])  # fmt: skip
        return {"kind": "vietqr", "payload": text, "bank_bin": settings.vietqr_bank_bin,
                "account": settings.vietqr_account, "transfer_note": order["reference"]}  # fmt: skip
    url = vnpay.payment_url(
        settings.vnpay_pay_url, tmn_code=settings.vnpay_tmn_code, secret=settings.vnpay_hash_secret.get_secret_value(),
        txn_ref=order["reference"], amount_vnd=int(order["amount"]), order_info=info, return_url=settings.return_url,
        ip_addr=client_ip, created_at=order["created_at"], expires_at=order["expires_at"],
    )  # fmt: skip
    return {"kind": "redirect", "url": url}


def _view(order: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(order["id"]),
        "reference": order["reference"],
        "dossier_id": str(order["dossier_id"]),
        "dossier_code": order["dossier_code"],
        "provider": order["provider"],
        "amount": int(order["amount"]),
        "currency": "VND",
        "state": order["state"],
        "created_at": order["created_at"].isoformat(),
        "expires_at": order["expires_at"].isoformat(),
        "paid_at": order["paid_at"].isoformat() if order["paid_at"] else None,
    }


async def owned_order(uow: UnitOfWork, owner: str, order_id: str, *, lock: bool = False) -> dict[str, Any]:
    order = await repo.order_by_id(uow.connection, order_id, lock=lock)
    if order is None or order["owner"] != owner:
        raise NotFound("No such order.")
    return order


async def order_view(
    uow: UnitOfWork, settings: PaymentSettings, owner: str, order_id: str, *, client_ip: str
) -> dict[str, Any]:
    order = await owned_order(uow, owner, order_id)
    view = _view(order)
    if order["state"] == OrderState.PENDING:
        view["pay"] = instructions(settings, order, client_ip)
    found = await repo.receipt_of(uow.connection, order_id)
    view["receipt"] = {"number": found["number"], "jws": found["jws"]} if found else None
    view["history"] = [
        {"previous": t["previous"], "state": t["state"], "source": t["source"], "at": t["at"].isoformat()}
        for t in await repo.transitions(uow.connection, order_id)
    ]
    return view


async def vietqr_png(uow: UnitOfWork, settings: PaymentSettings, owner: str, order_id: str) -> bytes:
    order = await owned_order(uow, owner, order_id)
    if order["provider"] != Provider.VIETQR or order["state"] != OrderState.PENDING:
        raise Conflict("Only an open VietQR order has a code to scan.")
    return vietqr.png(instructions(settings, order, "")["payload"])


async def cancel(uow: UnitOfWork, owner: str, order_id: str) -> dict[str, Any]:
    order = await owned_order(uow, owner, order_id, lock=True)
    await move(uow, order, OrderState.CANCELLED, source="owner", detail="cancelled by the payer")
    return _view({**order, "state": OrderState.CANCELLED.value})


async def refund(uow: UnitOfWork, order_id: str, reason: str, operator: str) -> dict[str, Any]:
    """An operator records that a paid order was refunded (the provider moved the money back):
    the one change a paid order allows."""
    order = await repo.order_by_id(uow.connection, order_id, lock=True)
    if order is None:
        raise NotFound("No such order.")
    await move(uow, order, OrderState.REFUNDED, source="operator", detail=f"{operator}: {reason}")
    return _view({**order, "state": OrderState.REFUNDED.value})


# --- moving an order ------------------------------------------------------------------------


async def move(
    uow: UnitOfWork, order: Mapping[str, Any], target: OrderState, *, source: str, detail: str | None = None,
    extra: Mapping[str, Any] | None = None, at: datetime | None = None,
) -> None:  # fmt: skip
    """One allowed transition of a locked order, recorded."""
    current = OrderState(order["state"])
    check_transition(current, target)
    await repo.update_order(uow.connection, str(order["id"]), {"state": target.value, **(extra or {})})
    await repo.add_transition(uow.connection, {"order_id": str(order["id"]), "previous": current.value,
                                            "state": target.value, "source": source, "detail": detail,
                                            "at": at or datetime.now(UTC)})  # fmt: skip


async def succeed(
    uow: UnitOfWork, settings: PaymentSettings, order: Mapping[str, Any], *, provider_transaction: str | None,
    paid_at: datetime, source: str,
) -> None:  # fmt: skip
    """The order is paid: its state, its receipt, and the event the dossier service applies."""
    await move(uow, order, OrderState.SUCCEEDED, source=source, detail=f"provider transaction {provider_transaction}",
               extra={"paid_at": paid_at, "provider_transaction": provider_transaction})  # fmt: skip
    paid = {**order, "provider_transaction": provider_transaction}
    receipt = await receipts.issue(uow, settings, paid, paid_at)
    await uow.emit(
        PaymentSucceeded(
            order_id=str(order["id"]), dossier_id=str(order["dossier_id"]), dossier_code=order["dossier_code"],
            amount=int(order["amount"]), currency="VND", provider=order["provider"],
            receipt_number=receipt["number"], paid_at=paid_at,
        ),
        key=str(order["id"]),
    )  # fmt: skip


async def expire_due(uow: UnitOfWork, now: datetime, limit: int = 500) -> int:
    """Open orders past their time-to-live expire (the provider would refuse them too)."""
    due = await repo.expirable(uow.connection, now, limit)
    for order_id in due:
        order = await repo.order_by_id(uow.connection, order_id, lock=True)
        if order is not None and OrderState(order["state"]) not in TERMINAL:
            await move(uow, order, OrderState.EXPIRED, source="expiry", detail="time to pay ran out", at=now)
    return len(due)


async def recheck_pending(
    db: Database, settings: PaymentSettings, query: StatusQuery, now: datetime, *, older_than: timedelta,
    limit: int = 100,
) -> dict[str, int]:  # fmt: skip
    """Ask the provider about VNPay orders still pending after ``older_than`` (a late or lost
    IPN): paid for the order's amount → succeeded; declined → failed; anything else → unchanged
    (a paid answer for another amount is flagged, never a success).

    The provider is asked with no transaction open (a slow provider holds no connection or row
    lock); each answer is then applied in its own transaction to the order locked and read again,
    so an IPN that arrived meanwhile wins and the answer changes nothing."""
    async with db.transaction() as uow:
        due = await repo.pending_since(uow.connection, Provider.VNPAY.value, now - older_than, limit)
    counts = {"paid": 0, "declined": 0, "unchanged": 0}
    for order_id, reference, created_at in due:
        answer = await query.status(reference, created_at)
        async with db.transaction() as uow:
            order = await repo.order_by_id(uow.connection, order_id, lock=True)
            if order is None or order["state"] != OrderState.PENDING or answer.status not in ("paid", "declined"):
                counts["unchanged"] += 1
            elif answer.status == "paid" and answer.amount_vnd == int(order["amount"]):
                await succeed(uow, settings, order, provider_transaction=answer.transaction,
                              paid_at=answer.paid_at or now, source="reconciliation")  # fmt: skip
                counts["paid"] += 1
            elif answer.status == "paid":
                await repo.update_order(uow.connection, order_id, {"flag": vnpay.FLAG_AMOUNT_MISMATCH})
                counts["unchanged"] += 1
            else:
                await move(uow, order, OrderState.FAILED, source="reconciliation", detail="declined (status query)")
                counts["declined"] += 1
    return counts
