"""Settings of the payment service, read from ``PAYMENT_*`` environment variables."""

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.settings import PLACEHOLDER_SECRETS, Environment, ServiceSettings


class PaymentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore")

    service_name: ClassVar[str] = "payment"

    port: int = Field(default=8004, ge=0, le=65535)

    # An order not paid within this time expires (the provider is told the same deadline).
    order_ttl_seconds: int = Field(default=15 * 60, ge=60, le=24 * 3600)
    # An unpaid order is announced as about to expire (``payment.order.expiring.v1``, once) when it
    # has this long left. Shorter than the order's lifetime, else every order would be announced
    # as expiring the moment it is made.
    expiry_warning_minutes: int = Field(default=5, ge=1, le=12 * 60)
    # Orders warned per transaction of the warning job, and transactions per run at most.
    expiry_warning_batch: int = Field(default=200, ge=1, le=1000)
    expiry_warning_batches_per_run: int = Field(default=25, ge=1, le=1000)
    # Encrypts the private keys that sign receipts (production refuses an empty one).
    receipt_key_encryption_key: SecretStr = SecretStr("")

    # VNPay (2.1.0): redirect to its payment page, IPN back to us. In development the sandbox
    # bank serves a VNPay-compatible page.
    vnpay_tmn_code: str = Field(default="DVCQG001", min_length=1, max_length=20)
    vnpay_hash_secret: SecretStr = SecretStr("development")
    # Secrets VNPay may still sign IPNs with while it switches to a new one (docs/runbook.md):
    # accepted on callbacks only, never used to sign; empty outside a rotation.
    vnpay_previous_hash_secrets: list[SecretStr] = Field(default_factory=list, max_length=3)
    vnpay_pay_url: str = "http://127.0.0.1:8010/vnpay/pay"
    # Where the payer's browser returns (a page of the web frontend in production).
    vnpay_return_url: str | None = None
    # VNPay's merchant web API, asked (querydr) about orders whose IPN is late; empty: not asked.
    # Development: the sandbox bank, which serves the same API. Pending orders older than
    # ``recheck_after_seconds`` are asked about; ``vnpay_server_ip`` is the portal's outbound
    # address as VNPay sees it (the request carries it, signed).
    vnpay_api_url: str = ""
    vnpay_server_ip: str = Field(default="127.0.0.1", min_length=1, max_length=45)
    status_query_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    recheck_after_seconds: int = Field(default=120, ge=10)

    # VietQR bank transfer to the collecting account; the bank notifies transfers by webhook.
    vietqr_bank_bin: str = Field(default="970436", pattern=r"^[0-9]{6}$")
    vietqr_account: str = Field(default="0011001234567", pattern=r"^[0-9A-Za-z]{1,19}$")
    vietqr_account_name: str = Field(default="KHO BAC NHA NUOC", max_length=25)
    # Every secret still accepted (the first signs nothing here; all verify): two during rotation.
    bank_webhook_secrets: list[SecretStr] = Field(default_factory=lambda: [SecretStr("development")], min_length=1)
    bank_webhook_tolerance_seconds: int = Field(default=300, ge=30, le=3600)

    # Optional allow-lists of callers' addresses per provider (CIDRs); empty: any address.
    vnpay_allowed_ips: list[str] = Field(default_factory=list)
    bank_allowed_ips: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _warning_within_an_orders_life(self) -> "PaymentSettings":
        if self.expiry_warning_minutes * 60 >= self.order_ttl_seconds:
            raise ValueError(
                f"expiry_warning_minutes ({self.expiry_warning_minutes}) must be shorter than an order's life "
                f"(order_ttl_seconds: {self.order_ttl_seconds})"
            )
        return self

    @model_validator(mode="after")
    def _no_placeholder_webhook_secret_in_production(self) -> "PaymentSettings":
        if self.environment is Environment.PRODUCTION:
            weak = [s for s in self.bank_webhook_secrets if s.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS]
            if weak:
                raise ValueError("refusing production settings: bank_webhook_secrets holds a placeholder")
            previous = self.vnpay_previous_hash_secrets
            if any(s.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS for s in previous):
                raise ValueError("refusing production settings: vnpay_previous_hash_secrets holds a placeholder")
        return self

    @property
    def return_url(self) -> str:
        return self.vnpay_return_url or f"{self.oidc_issuer.rstrip('/')}/api/v1/payment/return"
