"""Production settings of the sync and payment services: what a deployment must set."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from services.payment.settings import PaymentSettings
from services.sync.settings import SyncSettings

PRODUCTION = {
    "environment": "production",
    "oidc_issuer": "https://dichvucong.example",
    "oidc_jwks_url": "http://identity:8001/oauth2/jwks",
    "database_url": SecretStr("postgresql://u:p@db.internal/x"),
}


def test_sync_in_production_needs_its_secret_key_and_refuses_the_development_switches() -> None:
    ok = SyncSettings(**PRODUCTION, endpoint_secret_key=SecretStr("a-long-random-key"))
    assert ok.dev_agency_endpoint == "" and not ok.dev_allow_private_endpoints
    with pytest.raises(ValidationError, match="endpoint_secret_key is a placeholder"):
        SyncSettings(**PRODUCTION)
    with pytest.raises(ValidationError, match="dev_allow_private_endpoints is a development-only switch"):
        SyncSettings(**PRODUCTION, endpoint_secret_key=SecretStr("k" * 20), dev_allow_private_endpoints=True)


def test_payment_in_production_needs_its_provider_settings() -> None:
    provider = {"vnpay_hash_secret": SecretStr("merchant-hash-secret"), "vnpay_pay_url": "https://pay.vnpay.example/pay",
                "receipt_key_encryption_key": SecretStr("a-long-random-key"),
                "bank_webhook_secrets": [SecretStr("bank-secret-1")]}  # fmt: skip
    assert PaymentSettings(**PRODUCTION, **provider).vnpay_pay_url.startswith("https://")
    with pytest.raises(ValidationError, match="vnpay_hash_secret is a placeholder"):
        PaymentSettings(**PRODUCTION, **{**provider, "vnpay_hash_secret": SecretStr("development")})
    with pytest.raises(ValidationError, match="vnpay_pay_url points at a development host"):
        PaymentSettings(**PRODUCTION, **{**provider, "vnpay_pay_url": "http://127.0.0.1:8010/vnpay/pay"})
    with pytest.raises(ValidationError, match="bank_webhook_secrets holds a placeholder"):
        PaymentSettings(**PRODUCTION, **{**provider, "bank_webhook_secrets": [SecretStr("development")]})
