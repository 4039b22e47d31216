"""Electronic receipts: a JWS (RS256) over the receipt's fields, signed with the payment
service's receipt key, so anyone holding the published JWKS (``GET /api/v1/payment/jwks``,
public) can check that a receipt is the portal's and unaltered.

One key signs at a time (the newest); older keys stay in the JWKS so receipts they signed stay
verifiable for as long as receipts are kept. A first key is made at start-up (under an advisory
lock, so replicas starting together make one); private keys are encrypted at rest.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.kit.crypto import fernet
from services.kit.db import Database, UnitOfWork
from services.kit.jose import generate_rsa, sign_pem

from ..adapters import repository as repo
from ..settings import PaymentSettings

RECEIPT_KEY_BITS = 2048


async def ensure_receipt_key(db: Database, settings: PaymentSettings) -> None:
    async with db.transaction() as uow:
        await repo.advisory_lock(uow.connection, "payment.receipt-key")
        if not await repo.receipt_keys_all(uow.connection):
            await create_receipt_key(uow, settings)


async def create_receipt_key(uow: UnitOfWork, settings: PaymentSettings) -> str:
    kid = f"receipt-{uuid.uuid4().hex[:12]}"
    pem, public = generate_rsa(RECEIPT_KEY_BITS, kid)
    encrypted = fernet(settings.receipt_key_encryption_key.get_secret_value()).encrypt(pem)
    await repo.insert_receipt_key(uow.connection, {"kid": kid, "private_key": encrypted, "public_jwk": public})
    return kid


async def jwks(uow: UnitOfWork) -> dict[str, Any]:
    return {"keys": [row["public_jwk"] for row in await repo.receipt_keys_all(uow.connection)]}


def receipt_number(reference: str) -> str:
    """The receipt's number: the order's reference under the receipt series (one per order)."""
    return f"BL-{reference}"


async def issue(uow: UnitOfWork, settings: PaymentSettings, order: dict[str, Any], paid_at: datetime) -> dict[str, Any]:
    keys = await repo.receipt_keys_all(uow.connection)
    if not keys:
        raise RuntimeError("no receipt key (the API makes one at start-up)")
    newest = keys[0]
    pem = fernet(settings.receipt_key_encryption_key.get_secret_value()).decrypt(newest["private_key"])
    number = receipt_number(order["reference"])
    claims = {
        "iss": settings.oidc_issuer,
        "typ": "payment-receipt",
        "receipt_number": number,
        "order_reference": order["reference"],
        "dossier_code": order["dossier_code"],
        "amount": int(order["amount"]),
        "currency": "VND",
        "provider": order["provider"],
        "provider_transaction": order.get("provider_transaction"),
        "paid_at": paid_at.isoformat(),
        "iat": int(paid_at.timestamp()),
    }
    token = sign_pem(claims, pem, newest["kid"])
    values = {"order_id": str(order["id"]), "number": number, "jws": token, "issued_at": paid_at}
    await repo.insert_receipt(uow.connection, values)
    return values
