"""Events of the payment service, published on ``payment.events`` (key: the payment order id)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from contracts.events.base import Event
from contracts.money import Vnd


class PaymentSucceeded(Event):
    """A payment order was paid in full: the dossier's assessed fees are settled."""

    TYPE = "payment.order.succeeded.v1"

    order_id: str
    dossier_id: str
    dossier_code: str
    amount: Vnd
    currency: Literal["VND"] = "VND"
    provider: str = Field(max_length=40)
    receipt_number: str = Field(max_length=64)
    paid_at: AwareDatetime
