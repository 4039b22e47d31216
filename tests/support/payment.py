"""The payment service on its own migrated database and real HTTP, trusting a test JWKS, with
the fees of a dossier assessed as the dossier service's event would."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from contracts.events.dossier import FeesAssessed
from deploy.local.stack import create_database, database_url
from services.kit.db import Database
from services.kit.migrations import upgrade
from services.payment.adapters.unit_of_work import SqlPaymentUnitOfWork
from services.payment.app import SERVICE
from services.payment.settings import PaymentSettings
from tests.support.servers import serve
from tests.support.tokens import ISSUER, bearer, token

PAYMENT_TEMPLATE = "test_payment_template"
VNPAY_SECRET = "vnpay-test-hash-secret"
BANK_SECRETS = ["bank-webhook-secret-new", "bank-webhook-secret-old"]
FEES = [{"code": "LP01", "name": "Lệ phí cấp đổi", "amount": 135_000},
        {"code": "LP02", "name": "Lệ phí nộp trực tuyến", "amount": 115_000}]  # fmt: skip
TOTAL = 250_000


def payment_settings(db_url: str, bootstrap: str, **overrides: Any) -> PaymentSettings:
    values = {"database_url": db_url, "kafka_bootstrap_servers": bootstrap, "environment": "test", "log_json": False,
              "vnpay_hash_secret": VNPAY_SECRET, "vnpay_tmn_code": "PORTAL01",
              "bank_webhook_secrets": BANK_SECRETS}  # fmt: skip
    return PaymentSettings(**{**values, **overrides})


@pytest.fixture(scope="session")
def payment_template(infra) -> str:  # type: ignore[no-untyped-def]
    async def make() -> None:
        if await create_database(infra.server_url, PAYMENT_TEMPLATE):
            await asyncio.to_thread(upgrade, SERVICE.migrations, database_url(infra.server_url, PAYMENT_TEMPLATE))

    asyncio.run(make())
    return PAYMENT_TEMPLATE


@pytest.fixture
async def payment_db_url(infra, payment_template) -> str:  # type: ignore[no-untyped-def]
    from tests.conftest import fresh_database

    return await fresh_database(infra.server_url, payment_template)


async def assess(db_url: str, owner: str = "citizen-1", lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Apply a ``dossier.fees.assessed.v1`` for a new dossier; returns its data."""
    from services.payment.service.orders import apply_fees_assessed

    lines = FEES if lines is None else lines
    dossier_id = str(uuid.uuid4())
    data = {"dossier_id": dossier_id, "code": f"000.00.01.H22-251203-{uuid.uuid4().int % 10000:04d}",
            "owner": owner, "agency_code": "000.00.01.H22", "lines": lines,
            "total": sum(line["amount"] for line in lines), "currency": "VND"}  # fmt: skip
    db = payment_database(db_url)
    try:
        async with db.transaction() as uow:
            await apply_fees_assessed(uow, FeesAssessed.model_validate(data))
    finally:
        await db.dispose()
    return data


def payment_database(db_url: str) -> Database:
    """The payment database as the service opens it (its units have the payment repositories)."""
    return Database(db_url, source="payment", topic="payment.events", unit_of_work=SqlPaymentUnitOfWork)


@dataclass
class Payments:
    url: str
    db_url: str
    key: dict
    settings: PaymentSettings

    def payer(self, sub: str = "citizen-1") -> dict[str, str]:
        return bearer(token(self.key, scope="payment:pay", aud="payment", sub=sub))

    def operator(self, scope: str = "payment:admin") -> dict[str, str]:
        return bearer(token(self.key, scope=scope, aud="payment", sub="operator-1"))

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url + "/api/v1/payment", timeout=30)

    def db(self) -> Database:
        return payment_database(self.db_url)


@pytest.fixture
async def payments(payment_db_url, infra, dossier_keys) -> AsyncIterator[Payments]:  # type: ignore[no-untyped-def]
    keys, jwks_url = dossier_keys
    settings = payment_settings(payment_db_url, infra.bootstrap, oidc_issuer=ISSUER, oidc_jwks_url=jwks_url)
    from services.payment.app import create_app

    with serve(create_app(settings)) as url:
        yield Payments(url, payment_db_url, keys.published[0], settings)
