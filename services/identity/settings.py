"""Settings of the identity service, read from ``IDENTITY_*`` environment variables."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    service_name: ClassVar[str] = "identity"

    port: int = Field(default=8001, ge=0, le=65535)
