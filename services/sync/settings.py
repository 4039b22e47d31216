"""Settings of the sync service, read from ``SYNC_*`` environment variables."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class SyncSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SYNC_", extra="ignore")

    service_name: ClassVar[str] = "sync"

    port: int = Field(default=8005, ge=0, le=65535)
