"""Use-case tests of the payment service on the fake unit of work: no database, no server."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest

from contracts.events.dossier import FeeLine, FeesAssessed
from services.kit.crypto import fernet
from services.kit.jose import generate_rsa
from services.payment.domain.receipts import ReceiptKey
from services.payment.service.orders import apply_fees_assessed
from services.payment.settings import PaymentSettings
from tests.payment.fakes import FakePaymentUnitOfWork
from tests.support.payment import BANK_SECRETS, FEES, VNPAY_SECRET

OWNER = "citizen-1"
NOWHERE = {"database_url": "postgresql+asyncpg://u:p@127.0.0.1:1/none", "kafka_bootstrap_servers": "127.0.0.1:1"}

Assess = Callable[..., Awaitable[FeesAssessed]]


@pytest.fixture(scope="session")
def settings() -> PaymentSettings:
    return PaymentSettings(**NOWHERE, environment="test", log_json=False, vnpay_hash_secret=VNPAY_SECRET,
                           vnpay_tmn_code="PORTAL01", bank_webhook_secrets=BANK_SECRETS)  # fmt: skip


@pytest.fixture(scope="session")
def signing_key(settings: PaymentSettings) -> ReceiptKey:
    """One receipt key for the session (an RSA key takes a while to make)."""
    pem, public = generate_rsa(2048, "receipt-test")
    encrypted = fernet(settings.receipt_key_encryption_key.get_secret_value()).encrypt(pem)
    return ReceiptKey("receipt-test", encrypted, public)


@pytest.fixture
def uow(signing_key: ReceiptKey) -> FakePaymentUnitOfWork:
    unit = FakePaymentUnitOfWork()
    unit.receipts.signing_keys.append(signing_key)
    return unit


@pytest.fixture
def assess(uow: FakePaymentUnitOfWork) -> Assess:
    """Apply the FeesAssessed of a new dossier of ``owner`` (committed); returns the event."""

    async def assessed(owner: str = OWNER, amounts: tuple[int, ...] | None = None) -> FeesAssessed:
        lines = ([FeeLine(code=f["code"], name=f["name"], amount=f["amount"]) for f in FEES] if amounts is None
                 else [FeeLine(code=f"LP{i}", name="Lệ phí", amount=a) for i, a in enumerate(amounts)])  # fmt: skip
        event = FeesAssessed(dossier_id=str(uuid.uuid4()), code="000.00.01.H22-251203-0001", owner=owner,
                             agency_code="000.00.01.H22", lines=lines,
                             total=sum(line.amount for line in lines))  # fmt: skip
        async with uow:
            await apply_fees_assessed(uow, event)
            await uow.commit()
        return event

    return assessed
