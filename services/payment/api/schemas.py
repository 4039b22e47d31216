"""The payment API's bodies: what clients send (``XCreate``) and what they are answered
(``XPublic``), each made from the service's entities and value objects by its ``of``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.json import Jwk
from services.kit.schemas import UUID_PATTERN, NotBlank, StrictModel

from ..domain import vnpay
from ..domain.orders import OrderState, Provider
from ..service.callbacks import BankAnswer
from ..service.orders import BankTransfer, OrderDetails, Redirect
from ..service.reconciliation import Reconciliation

OnlineProvider = Literal["vnpay", "vietqr"]


class OrderCreate(StrictModel):
    dossier_id: Annotated[str, Field(pattern=UUID_PATTERN)]
    provider: OnlineProvider


class RefundCreate(StrictModel):
    reason: Annotated[str, Field(min_length=3, max_length=500), NotBlank()]


class Public(BaseModel):
    """An answer read from an entity or value object's attributes of the same names."""

    model_config = ConfigDict(from_attributes=True)


class OrderPublic(Public):
    id: str
    reference: str = Field(description="The merchant reference every payment protocol carries.")
    dossier_id: str
    dossier_code: str
    provider: Provider
    amount: int = Field(description="Whole VND: the dossier's assessed total.")
    currency: Literal["VND"] = "VND"
    state: OrderState
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None


class RedirectPublic(Public):
    """Pay on VNPay's page: send the payer's browser to ``url``."""

    kind: Literal["redirect"] = "redirect"
    url: str


class BankTransferPublic(Public):
    """Pay by a bank transfer: scan ``payload`` (a VietQR code), or type the account and note."""

    kind: Literal["vietqr"] = "vietqr"
    payload: str
    bank_bin: str
    account: str
    transfer_note: str


class ReceiptPublic(Public):
    number: str
    jws: str = Field(description="The receipt, signed (RS256); verify it with the keys of getReceiptSigningKeys.")


class TransitionPublic(Public):
    previous: OrderState | None
    state: OrderState
    source: str
    at: datetime


class OrderDetailPublic(OrderPublic):
    """An order with how to pay it (while pending), its receipt (once paid) and its history."""

    pay: Annotated[RedirectPublic | BankTransferPublic, Field(discriminator="kind")] | None
    receipt: ReceiptPublic | None
    history: list[TransitionPublic]

    @classmethod
    def of(cls, details: OrderDetails) -> OrderDetailPublic:
        pay = details.pay
        return cls.model_validate({
            **OrderPublic.model_validate(details.order).model_dump(),
            "pay": RedirectPublic.model_validate(pay) if isinstance(pay, Redirect)
            else BankTransferPublic.model_validate(pay) if isinstance(pay, BankTransfer) else None,
            "receipt": details.receipt, "history": details.history,
        })  # fmt: skip


class ReceiptKeysPublic(BaseModel):
    """A JSON Web Key Set (RFC 7517) of the keys that sign receipts."""

    keys: list[Jwk]


class VnpayIpnAnswer(BaseModel):
    """The answer VNPay's IPN protocol expects (its own field names)."""

    RspCode: str
    Message: str

    @classmethod
    def of(cls, answer: vnpay.IpnAnswer) -> VnpayIpnAnswer:
        return cls(RspCode=answer.code, Message=answer.message)


class BankNotificationAnswer(BaseModel):
    """What became of a bank's notification: ``accepted``, ``flagged`` (for review),
    ``unmatched`` (names no order), ``ignored`` (another account) or ``malformed`` (then without
    ``reference``)."""

    result: str
    reference: str | None = None

    @classmethod
    def of(cls, answer: BankAnswer) -> BankNotificationAnswer:
        # A malformed notification's answer has no reference at all (not a null one): the route
        # leaves out what was not set.
        return cls(result=answer.result) if answer.malformed else cls(result=answer.result, reference=answer.reference)


class ReconciliationSummary(BaseModel):
    matched: int
    amount_mismatch: int
    missing_ours: int
    missing_theirs: int


class StatementLinePublic(Public):
    line: int
    transaction_id: str
    reference: str | None
    amount: int


class AmountMismatchPublic(StatementLinePublic):
    order_amount: int


class MissingOursPublic(StatementLinePublic):
    reason: str


class MissingTheirsPublic(Public):
    reference: str
    amount: int
    provider_transaction: str | None


class ReconciliationPublic(BaseModel):
    provider: OnlineProvider
    since: datetime
    until: datetime
    lines: int = Field(description="The settled lines of the statement.")
    summary: ReconciliationSummary
    matched: list[StatementLinePublic]
    amount_mismatch: list[AmountMismatchPublic]
    missing_ours: list[MissingOursPublic]
    missing_theirs: list[MissingTheirsPublic]

    @classmethod
    def of(cls, done: Reconciliation) -> ReconciliationPublic:
        report = done.report
        return cls.model_validate({
            "provider": done.provider.value, "since": done.since, "until": done.until, "lines": done.lines,
            "summary": report.summary(), "matched": [StatementLinePublic.model_validate(m) for m in report.matched],
            "amount_mismatch": report.amount_mismatch, "missing_ours": report.missing_ours,
            "missing_theirs": report.missing_theirs,
        })  # fmt: skip
