"""Electronic receipts: what a paid order's receipt says and the keys that sign it. Pure Python.

A receipt is a JWS over :func:`claims`; its number is the order's reference under the receipt
series, so an order has one receipt and its number says which order it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    # A JWK: JSON whose members depend on the key's type (RFC 7517), published as it is.
    public_jwk: Mapping[str, Any]


def receipt_number(reference: str) -> str:
    """The receipt's number: the order's reference under the receipt series (one per order)."""
    return f"{RECEIPT_PREFIX}{reference}"


# A JWT's payload: the JSON object the signer serializes (its members are the receipt's format).
def claims(order: Order, *, issuer: str, paid_at: datetime) -> dict[str, Any]:
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
