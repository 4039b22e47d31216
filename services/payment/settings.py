"""Settings of the payment service, read from ``PAYMENT_*`` environment variables."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class PaymentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore")

    service_name: ClassVar[str] = "payment"

    port: int = Field(default=8004, ge=0, le=65535)
