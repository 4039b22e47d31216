"""The providers' callbacks: VNPay's IPN and the bank's transfer notifications (VietQR).

Every callback is kept as it arrived (``callbacks``, append-only; signatures and credentials
redacted) with what was made of it. The order is looked up and locked before it is judged, so
the same callback delivered many times at once changes it once and emits one event.

- VNPay answers follow its protocol (``domain.vnpay.decide_ipn``): 97, 99, 01, 04, 02, 00.
- Bank notifications are signed ``t=…,v1=…`` (HMAC-SHA256 over timestamp + body) under any of
  the active secrets (rotation), within a time tolerance; a refused signature is a 401. Any
  notification whose signature holds is acknowledged with 200 (else the bank retries forever)
  and its ``result`` says what happened: ``accepted`` (paid, or the same transfer again),
  ``flagged`` (amount not the order's, a second payment, money for a closed order: for review,
  never a success), ``unmatched`` (no order named in the transfer: for reconciliation) or
  ``ignored`` (a transfer to another account).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from prometheus_client import Counter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from services.kit import webhooks as webhook
from services.kit.errors import DomainError, Forbidden
from services.kit.logging import get_logger

from ..domain import vnpay
from ..domain.callbacks import Callback, RawCallback, storable
from ..domain.orders import Order, OrderState, find_order_reference
from ..settings import PaymentSettings
from .orders import move, succeed
from .unit_of_work import PaymentUnitOfWork

log = get_logger(__name__)


# Callbacks refused before anything in them was believed: a wrong or missing signature (a secret
# out of step after a rotation, or someone forging payments) or a caller outside the allow-list.
VERIFICATION_FAILURES = Counter(
    "payment_callback_verification_failures_total", "Provider callbacks whose signature or origin was refused",
    ["provider", "reason"],
)  # fmt: skip


class SignatureInvalid(DomainError):
    """A provider's callback whose signature does not hold."""


@dataclass(frozen=True, slots=True)
class BankAnswer:
    """What a bank notification came to: ``accepted``, ``flagged``, ``unmatched``, ``ignored``,
    or ``malformed`` (a body that is not a transfer: no reference looked for)."""

    result: str
    reference: str | None = None

    @property
    def malformed(self) -> bool:
        return self.result == "malformed"


def check_address(remote_addr: str | None, allowed: Sequence[str]) -> None:
    """Refuse a caller outside a configured allow-list (none configured: anyone)."""
    if not allowed:
        return
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError as exc:
        raise Forbidden("Callbacks are accepted from the provider's addresses only.") from exc
    if not any(address in ipaddress.ip_network(net, strict=False) for net in allowed):
        raise Forbidden("Callbacks are accepted from the provider's addresses only.")


async def _log(uow: PaymentUnitOfWork, provider: str, raw: RawCallback, *, verified: bool, reference: str | None,
               outcome: str) -> None:  # fmt: skip
    await uow.callbacks.add(Callback.received(provider, raw, verified=verified, reference=reference, outcome=outcome))


# --- VNPay IPN ------------------------------------------------------------------------------


def _checked_address(provider: str, remote_addr: str | None, allowed: Sequence[str]) -> None:
    try:
        check_address(remote_addr, allowed)
    except Forbidden:
        VERIFICATION_FAILURES.labels(provider, "address").inc()
        raise


def _vnpay_secret(settings: PaymentSettings, params: Mapping[str, str]) -> str:
    """The secret the IPN is signed with: the current one, or one still accepted during a
    rotation; the current one when none verifies (the call is then refused as unsigned)."""
    current = settings.vnpay_hash_secret.get_secret_value()
    if settings.vnpay_previous_hash_secrets and not vnpay.verify(params, current):
        for previous in settings.vnpay_previous_hash_secrets:
            if vnpay.verify(params, previous.get_secret_value()):
                return previous.get_secret_value()
    return current


async def vnpay_ipn(uow: PaymentUnitOfWork, settings: PaymentSettings, raw: RawCallback) -> vnpay.IpnAnswer:
    """VNPay's IPN judged as its protocol says (``domain.vnpay.decide_ipn``), applied, and kept."""
    _checked_address("vnpay", raw.remote_addr, settings.vnpay_allowed_ips)
    # A NUL or a lone surrogate is no character VNPay signs: as U+FFFD the parameter simply fails
    # the signature, rather than the hash or the database failing on it.
    params = {storable(k): storable(v) for k, v in raw.query.items()}
    secret = _vnpay_secret(settings, params)
    reference = params.get("vnp_TxnRef")
    order = None
    if reference and vnpay.verify(params, secret):
        order = await uow.orders.by_reference(reference, lock=True)
    view = vnpay.OrderView(order.reference, order.amount, order.state) if order else None
    outcome = vnpay.decide_ipn(params, secret=secret, order=view, tmn_code=settings.vnpay_tmn_code)
    verified = outcome.answer != vnpay.INVALID_SIGNATURE
    if not verified:
        VERIFICATION_FAILURES.labels("vnpay", "signature").inc()
    if order is not None and outcome.flag:
        order.flag_for_review(outcome.flag)
        await uow.orders.save(order)
        log.warning("payment flagged for review", order_reference=reference, flag=outcome.flag, provider="vnpay")
    if order is not None and outcome.new_state is OrderState.SUCCEEDED:
        paid_at = _pay_date(params.get("vnp_PayDate"))
        await succeed(uow, settings, order, provider_transaction=params.get("vnp_TransactionNo"), paid_at=paid_at,
                      source="callback")  # fmt: skip
    elif order is not None and outcome.new_state is OrderState.FAILED:
        detail = f"vnp_ResponseCode={params.get('vnp_ResponseCode')} vnp_TransactionStatus=" + str(
            params.get("vnp_TransactionStatus")
        )
        await move(uow, order, OrderState.FAILED, source="callback", detail=detail)
    answer = outcome.answer
    said = f"{answer.code} {answer.message}" + (f" ({outcome.flag})" if outcome.flag else "")
    await _log(uow, "vnpay", raw, verified=verified, reference=reference, outcome=said)
    return answer


def _pay_date(value: str | None) -> datetime:
    try:
        return vnpay.parse_pay_date(value or "")
    except ValueError:
        return datetime.now(UTC)


# --- bank transfer notifications (VietQR) ---------------------------------------------------


class Transfer(BaseModel):
    """A credit to the collecting account, as the bank notifies it."""

    model_config = ConfigDict(extra="ignore")

    transaction_id: Annotated[str, Field(min_length=1, max_length=100)]
    bank_bin: Annotated[str, Field(pattern=r"^[0-9]{6}$")]
    account: Annotated[str, Field(min_length=1, max_length=19)]
    amount: Annotated[int, Field(gt=0, strict=True)]  # VND, an integer: never a float
    description: Annotated[str, Field(max_length=500)] = ""
    transferred_at: AwareDatetime


async def bank_notification(
    uow: PaymentUnitOfWork, settings: PaymentSettings, raw: RawCallback, *, now: datetime | None = None
) -> BankAnswer:
    _checked_address("bank", raw.remote_addr, settings.bank_allowed_ips)
    moment = now or datetime.now(UTC)
    secrets = [s.get_secret_value() for s in settings.bank_webhook_secrets]
    header = next((v for k, v in raw.headers.items() if k.lower() == "x-signature"), None)
    try:
        webhook.verify(header, raw.body, secrets, now=int(moment.timestamp()),
                       tolerance_seconds=settings.bank_webhook_tolerance_seconds)  # fmt: skip
    except webhook.SignatureRefused as refused:
        VERIFICATION_FAILURES.labels("bank", refused.reason).inc()
        # Kept, for the record, in its own transaction: the caller commits before answering 401.
        await _log(uow, "bank", raw, verified=False, reference=None, outcome=f"refused: {refused.reason}")
        raise SignatureInvalid(f"Signature refused: {refused.reason}.") from refused
    try:
        transfer = Transfer.model_validate(json.loads(raw.body))
    except (ValueError, ValidationError):
        await _log(uow, "bank", raw, verified=True, reference=None, outcome="malformed")
        return BankAnswer("malformed")
    result, reference = await _apply_transfer(uow, settings, transfer)
    await _log(uow, "bank", raw, verified=True, reference=reference, outcome=result)
    return BankAnswer(result.split(":")[0], reference)


async def _apply_transfer(
    uow: PaymentUnitOfWork, settings: PaymentSettings, transfer: Transfer
) -> tuple[str, str | None]:
    if transfer.bank_bin != settings.vietqr_bank_bin or transfer.account != settings.vietqr_account:
        return "ignored", None
    reference = find_order_reference(transfer.description)
    order = await uow.orders.by_reference(reference, lock=True) if reference else None
    if order is None:
        log.warning("transfer names no order", provider="bank", transaction=transfer.transaction_id)
        return "unmatched", reference
    if order.state is OrderState.SUCCEEDED and order.provider_transaction == transfer.transaction_id:
        return "accepted", reference  # the same notification again
    if transfer.amount != order.amount:
        return await _flag(uow, order, "amount-mismatch"), reference
    if order.is_final:
        flag = "duplicate-payment" if order.state is OrderState.SUCCEEDED else "late-payment"
        return await _flag(uow, order, flag), reference
    await succeed(uow, settings, order, provider_transaction=transfer.transaction_id,
                  paid_at=transfer.transferred_at, source="callback")  # fmt: skip
    return "accepted", reference


async def _flag(uow: PaymentUnitOfWork, order: Order, flag: str) -> str:
    order.flag_for_review(flag)
    await uow.orders.save(order)
    log.warning("payment flagged for review", order_reference=order.reference, flag=flag, provider="bank")
    return f"flagged:{flag}"
