"""Events of the payment service, published on ``payment.events`` (key: the payment order id).

Each names the account that may pay the order (``owner``, as the dossier service's
``dossier.fees.assessed.v1`` gave it), so that whoever tells that person needs no view of its
own: never a name, a phone number or an e-mail address. ``failed`` and ``expiring`` are
published at most once per order.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from contracts.events.base import Event
from contracts.money import Vnd

#: Why an order ended unpaid: the provider (the bank, VNPay) said no, or the time to pay ran out.
FailureReason = Literal["declined", "expired"]


class PaymentSucceeded(Event):
    """A payment order was paid in full: the dossier's assessed fees are settled."""

    TYPE = "payment.order.succeeded.v1"

    order_id: str
    dossier_id: str
    dossier_code: str
    owner: str | None = Field(default=None, description="the account that paid (absent in events before it was added)")
    amount: Vnd
    currency: Literal["VND"] = "VND"
    provider: str = Field(max_length=40)
    receipt_number: str = Field(max_length=64)
    paid_at: AwareDatetime


class PaymentFailed(Event):
    """A payment order ended unpaid (state ``failed`` or ``expired``), once per order; the dossier's
    fees are still due and its owner may order again."""

    TYPE = "payment.order.failed.v1"

    order_id: str
    dossier_id: str
    dossier_code: str
    owner: str = Field(description="the account that may pay")
    amount: Vnd
    currency: Literal["VND"] = "VND"
    reason: FailureReason
    failed_at: AwareDatetime


class PaymentExpiring(Event):
    """An unpaid order expires soon (within the service's warning lead time), once per order."""

    TYPE = "payment.order.expiring.v1"

    order_id: str
    dossier_id: str
    dossier_code: str
    owner: str = Field(description="the account that may pay")
    amount: Vnd
    currency: Literal["VND"] = "VND"
    expires_at: AwareDatetime
