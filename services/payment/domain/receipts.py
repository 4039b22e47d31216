"""Electronic receipts: what a paid order's receipt says and the keys that sign it. Pure Python.

A receipt is a JWS over :func:`claims`; its number is the order's reference under the receipt
series, so an order has one receipt and its number says which order it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from contracts.json import Jwk

from .orders import Order

RECEIPT_PREFIX = "BL-"


@dataclass(frozen=True, slots=True)
class Receipt:
    order_id: str
    number: str
    jws: str
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class ReceiptKey:
    """A key that signs receipts: its private half (PEM, encrypted) and its public JWK."""

    kid: str
    private_key: bytes
    public_jwk: Jwk


def receipt_number(reference: str) -> str:
    """The receipt's number: the order's reference under the receipt series (one per order)."""
    return f"{RECEIPT_PREFIX}{reference}"


class ReceiptClaims(TypedDict):
    """A receipt's signed claims (a JWT's payload): the receipt's format."""

    iss: str
    typ: str
    receipt_number: str
    order_reference: str
    dossier_code: str
    amount: int
    currency: str
    provider: str
    provider_transaction: str | None
    paid_at: str
    iat: int


def claims(order: Order, *, issuer: str, paid_at: datetime) -> ReceiptClaims:
    """The signed claims of ``order``'s receipt."""
    return {
        "iss": issuer,
        "typ": "payment-receipt",
        "receipt_number": receipt_number(order.reference),
        "order_reference": order.reference,
        "dossier_code": order.dossier_code,
        "amount": order.amount,
        "currency": "VND",
        "provider": order.provider.value,
        "provider_transaction": order.provider_transaction,
        "paid_at": paid_at.isoformat(),
        "iat": int(paid_at.timestamp()),
    }
