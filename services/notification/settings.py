"""Settings of the notification service, read from ``NOTIFICATION_*`` environment variables."""

from datetime import time
from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATION_", extra="ignore")

    service_name: ClassVar[str] = "notification"

    port: int = Field(default=8007, ge=0, le=65535)
    # The public address of the portal's pages, for links in messages.
    portal_url: str = "http://127.0.0.1:8000"
    # Message bodies are kept this many days, then purged (the statuses stay).
    retention_days: int = Field(default=7, ge=3, le=90)
    # Non-urgent SMS wait outside these hours (Vietnam time).
    quiet_start: time = time(21, 0)
    quiet_end: time = time(7, 0)
    # At most this many SMS to one person an hour.
    sms_per_recipient_per_hour: int = Field(default=10, ge=1, le=1000)
    # Live inbox streams: one person's, and the process's in all.
    streams_per_account: int = Field(default=5, ge=1, le=100)
    streams_total: int = Field(default=10_000, ge=1, le=1_000_000)
    stream_heartbeat_seconds: float = Field(default=15.0, ge=1.0, le=300.0)
    # Devices (push) one person may register.
    devices_per_account: int = Field(default=10, ge=1, le=100)
    # How often the worker purges bodies past their retention.
    purge_every_seconds: float = Field(default=3600.0, ge=1.0, le=86_400)
    # Development and tests only: the clock moved by the seconds written in this file.
    dev_clock_offset_file: Path | None = None
