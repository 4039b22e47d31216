"""Settings of the sync service, read from ``SYNC_*`` environment variables."""

from typing import ClassVar

from pydantic import Field, SecretStr
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
    # How far ahead of this server's clock a pushed time may be (the agency's clock runs fast):
    # a record dated later is rejected, so it can never stand as a dossier's latest update.
    clock_skew_seconds: int = Field(default=300, ge=0, le=3600)

    # --- outbound delivery to agency systems ---
    delivery_max_attempts: int = Field(default=12, ge=1, le=50)
    delivery_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    delivery_batch_size: int = Field(default=50, ge=1, le=1000)
    delivery_concurrency: int = Field(default=10, ge=1, le=100)
    # A claimed delivery is not claimed again before this (a crashed worker's claims come back).
    delivery_lease_seconds: int = Field(default=120, ge=10)
    delivery_backoff_base_seconds: int = Field(default=30, ge=1)
    # Encrypts the agencies' signing secrets at rest (production refuses an empty one).
    endpoint_secret_key: SecretStr = SecretStr("")
    # Development and tests only (production refuses dev_* switches): endpoints on http and on
    # this machine or a private network.
    dev_allow_private_endpoints: bool = False
    # Development fixtures: the agency simulator as the endpoint of this agency's dossiers.
    dev_agency_endpoint: str = ""
    simulated_agency_code: str = "000.00.01.H22"
    simulated_agency_secret: SecretStr = SecretStr("development-agency-secret-0123456789abcdef")
