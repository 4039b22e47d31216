"""Settings of the notification service, read from ``NOTIFICATION_*`` environment variables."""

from datetime import time, timedelta
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.settings import Environment, ServiceSettings

from .adapters.providers import (
    PushProviderSettings,
    SmsProviderSettings,
    SmtpProviderSettings,
    development_defaults,
    unsafe_for_production,
)


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
    # The dispatcher: how often it looks for due messages, how many it claims at once, and how
    # many it hands over at the same time.
    dispatch_every_seconds: float = Field(default=0.25, ge=0.05, le=60)
    dispatch_batch: int = Field(default=200, ge=1, le=5000)
    dispatch_concurrency: int = Field(default=50, ge=1, le=1000)
    # Contact details are asked of identity (adapters/contacts.py) as this confidential client.
    identity_url: str = "http://127.0.0.1:8001"
    contacts_client_id: str = "notification-service"
    # Identity's development fixture's secret (IDENTITY_NOTIFICATION_CLIENT_SECRET): refused in production.
    contacts_client_secret: SecretStr = SecretStr("notification-service-development-secret")
    # Each channel's providers, in failover order (JSON lists; the defaults are make run's sandboxes).
    email_providers: list[SmtpProviderSettings] = Field(default_factory=lambda: development_defaults()[0])
    sms_providers: list[SmsProviderSettings] = Field(default_factory=lambda: development_defaults()[1])
    push_providers: list[PushProviderSettings] = Field(default_factory=lambda: development_defaults()[2])
    contacts_cache_seconds: float = Field(default=300.0, ge=0, le=3600)
    # How often the worker purges bodies past their retention.
    purge_every_seconds: float = Field(default=3600.0, ge=1.0, le=86_400)
    # The officials' daily digest: made once a day from this hour (Vietnam time), for what is
    # past its deadline or due within this many days; the worker looks every so many seconds.
    digest_at: time = time(7, 30)
    digest_within_days: int = Field(default=2, ge=0, le=30)
    digest_every_seconds: float = Field(default=300.0, ge=1.0, le=3600)
    # Development and tests only: the clock moved by the seconds written in this file.
    dev_clock_offset_file: Path | None = None
    # Development and tests only: the wait before a failed message's first retry, instead of the
    # schedule's 30 s (``domain/messages.py``; the later waits are kept).
    dev_first_retry_seconds: float | None = Field(default=None, ge=1.0, le=30.0)

    @property
    def first_retry(self) -> timedelta | None:
        """The first retry's wait where development or a test shortened it, else None (the schedule's)."""
        return None if self.dev_first_retry_seconds is None else timedelta(seconds=self.dev_first_retry_seconds)

    @model_validator(mode="after")
    def _real_providers_in_production(self) -> "NotificationSettings":
        if self.environment is Environment.PRODUCTION:
            problems = unsafe_for_production(self.email_providers, self.sms_providers, self.push_providers)
            if "development" in self.contacts_client_secret.get_secret_value():
                problems.append("contacts_client_secret is the development fixture's")
            if problems:
                raise ValueError("refusing production settings: " + "; ".join(problems))
        for providers in (self.email_providers, self.sms_providers, self.push_providers):
            names = [p.name for p in providers]
            if len(set(names)) != len(names):
                raise ValueError("each provider of a channel needs a name of its own")
        return self
