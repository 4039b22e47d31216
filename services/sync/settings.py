"""Settings of the sync service, read from ``SYNC_*`` environment variables."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

MIB = 1024 * 1024


class SyncSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SYNC_", extra="ignore")

    service_name: ClassVar[str] = "sync"

    port: int = Field(default=8005, ge=0, le=65535)
    # A batch: at most this many records and this many bytes (the gateway has its own limit).
    max_records_per_batch: int = Field(default=1000, ge=1, le=1000)
    max_body_bytes: int = Field(default=4 * MIB, ge=1024)
    # Pushes a client may make per minute (per replica), with bursts up to ``push_burst``.
    push_rate_per_minute: int = Field(default=600, ge=1)
    push_burst: int = Field(default=60, ge=1)
