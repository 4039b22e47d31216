"""Electronic receipts: a JWS (RS256) over the receipt's claims (``domain.receipts``), signed
with the payment service's receipt key, so anyone holding the published JWKS
(``GET /api/v1/payment/jwks``, public) can check that a receipt is the portal's and unaltered.

One key signs at a time (the newest); older keys stay in the JWKS so receipts they signed stay
verifiable for as long as receipts are kept. A first key is made at start-up (under a lock, so
replicas starting together make one); private keys are encrypted at rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.kit.crypto import fernet
from services.kit.db import Database
from services.kit.jose import generate_rsa, sign_pem

from ..domain.orders import Order
from ..domain.receipts import Receipt, ReceiptKey, claims, receipt_number
from ..settings import PaymentSettings
from .unit_of_work import PaymentUnitOfWork, transaction

RECEIPT_KEY_BITS = 2048


async def ensure_receipt_key(db: Database, settings: PaymentSettings) -> None:
    async with transaction(db) as uow:
        await uow.receipts.lock_keys()
        if not await uow.receipts.keys():
            await create_receipt_key(uow, settings)


async def create_receipt_key(uow: PaymentUnitOfWork, settings: PaymentSettings) -> str:
    kid = f"receipt-{uuid.uuid4().hex[:12]}"
    pem, public = generate_rsa(RECEIPT_KEY_BITS, kid)
    encrypted = fernet(settings.receipt_key_encryption_key.get_secret_value()).encrypt(pem)
    await uow.receipts.add_key(ReceiptKey(kid, encrypted, public))
    return kid


async def jwks(uow: PaymentUnitOfWork) -> list[Mapping[str, Any]]:
    """The public keys of every receipt key, newest first (JWKs: JSON as RFC 7517 has them)."""
    return [key.public_jwk for key in await uow.receipts.keys()]


async def issue(uow: PaymentUnitOfWork, settings: PaymentSettings, order: Order, paid_at: datetime) -> Receipt:
    """The receipt of the paid ``order``, signed with the newest key."""
    keys = await uow.receipts.keys()
    if not keys:
        raise RuntimeError("no receipt key (the API makes one at start-up)")
    newest = keys[0]
    pem = fernet(settings.receipt_key_encryption_key.get_secret_value()).decrypt(newest.private_key)
    token = sign_pem(claims(order, issuer=settings.oidc_issuer, paid_at=paid_at), pem, newest.kid)
    receipt = Receipt(order_id=order.id, number=receipt_number(order.reference), jws=token, issued_at=paid_at)
    await uow.receipts.add(receipt)
    return receipt
