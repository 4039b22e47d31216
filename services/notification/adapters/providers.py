"""The providers of each channel, made from the settings (``NOTIFICATION_EMAIL_PROVIDERS``,
``…_SMS_PROVIDERS``, ``…_PUSH_PROVIDERS``: JSON lists). A list's order is the failover order:
the first takes each message, the next one a message the one before failed (``next_provider``).
Failover is configuration, not code."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ..domain.delivery import Channel
from .email import SmtpConfig, SmtpProvider
from .push import MAX_SERVICE_ACCOUNT_BYTES, HttpPushConfig, HttpPushProvider, ServiceAccount
from .sms import MAX_BATCH, HttpSmsConfig, HttpSmsProvider

ProviderName = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*$")


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmtpProviderSettings(_Settings):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "name": "relay", "host": "smtp.example.invalid", "port": 587, "sender": "no-reply@example.invalid",
        "username": "portal", "password": "example-password", "security": "starttls"}]})  # fmt: skip

    name: str = ProviderName
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    sender: str = Field(min_length=3, description="the From address")
    username: str | None = None
    password: SecretStr | None = None
    security: Literal["starttls", "tls", "none"] = "starttls"
    connections: int = Field(default=4, ge=1, le=64)
    ca_file: Path | None = None

    def provider(self) -> SmtpProvider:
        return SmtpProvider(SmtpConfig(
            name=self.name, host=self.host, port=self.port, sender=self.sender, username=self.username,
            password=self.password.get_secret_value() if self.password else None, security=self.security,
            connections=self.connections, ca_file=str(self.ca_file) if self.ca_file else None,
        ))  # fmt: skip


class SmsProviderSettings(_Settings):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "name": "carrier-a", "base_url": "https://sms.example.invalid", "api_key": "example-api-key",
        "signing_secret": "example-signing-secret", "brand_name": "DVCQG"}]})  # fmt: skip

    name: str = ProviderName
    base_url: str = Field(min_length=1)
    api_key: SecretStr
    signing_secret: SecretStr
    # The previous signing secret while the provider switches (its receipts may carry either).
    previous_signing_secret: SecretStr | None = None
    brand_name: str = Field(default="DVCQG", min_length=1, max_length=11)
    plain_latin_only: bool = True
    # SMS a bulk request carries (the provider's own limit may be lower).
    batch_size: int = Field(default=50, ge=1, le=MAX_BATCH)

    def provider(self) -> HttpSmsProvider:
        return HttpSmsProvider(HttpSmsConfig(
            name=self.name, base_url=self.base_url, api_key=self.api_key.get_secret_value(),
            signing_secret=self.signing_secret.get_secret_value(), brand_name=self.brand_name,
            plain_latin_only=self.plain_latin_only, batch_size=self.batch_size,
        ))  # fmt: skip

    def receipt_secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.signing_secret, self.previous_signing_secret) if s is not None]


class ServiceAccountSettings(_Settings):
    """A Google service account's fields, as its JSON key file names them (the rest of the file
    is not needed)."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    client_email: str = Field(min_length=3, max_length=320)
    private_key: SecretStr = Field(min_length=1, max_length=MAX_SERVICE_ACCOUNT_BYTES)
    token_uri: str = Field(min_length=1, max_length=2000)
    private_key_id: str | None = Field(default=None, max_length=200)
    project_id: str | None = Field(default=None, min_length=1, max_length=200)

    def account(self) -> ServiceAccount:
        return ServiceAccount(client_email=self.client_email, private_key=self.private_key.get_secret_value(),
                              token_uri=self.token_uri, private_key_id=self.private_key_id,
                              project_id=self.project_id)  # fmt: skip


class PushProviderSettings(_Settings):
    """A push provider's API and how its access token is had: exactly one of ``access_token``
    (static: the sandbox and tests, it expires within the hour in production),
    ``service_account_file`` (Google's JSON key file, read at start) or ``service_account`` (its
    fields). ``project_id`` defaults to the service account's."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True, json_schema_extra={"examples": [{
        "name": "fcm", "base_url": "https://push.example.invalid", "project_id": "portal",
        "service_account": {"client_email": "portal-push@portal.iam.example.invalid",
                            "private_key": "example-private-key-pem", "private_key_id": "example-key-id",
                            "token_uri": "https://oauth2.example.invalid/token"}}]})  # fmt: skip

    name: str = ProviderName
    base_url: str = Field(min_length=1)
    project_id: str | None = Field(default=None, min_length=1)
    access_token: SecretStr | None = None
    service_account_file: Path | None = None
    service_account: ServiceAccountSettings | None = None

    @model_validator(mode="after")
    def _one_credential(self) -> PushProviderSettings:
        given = [n for n in ("access_token", "service_account_file", "service_account") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"push provider {self.name}: give exactly one of access_token, service_account_file "
                             f"or service_account (given: {', '.join(given) or 'none'})")  # fmt: skip
        if self.access_token is not None and not self.project_id:
            raise ValueError(f"push provider {self.name}: project_id is required with a static access_token")
        return self

    def account(self) -> ServiceAccount | None:
        """The service account, its file read now; ``None`` with a static token."""
        if self.service_account is not None:
            return self.service_account.account()
        if self.service_account_file is None:
            return None
        try:
            with self.service_account_file.open("rb") as file:
                raw = file.read(MAX_SERVICE_ACCOUNT_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"push provider {self.name}: the service account file cannot be read "
                             f"({type(exc).__name__})") from None  # fmt: skip
        if len(raw) > MAX_SERVICE_ACCOUNT_BYTES:
            raise ValueError(f"push provider {self.name}: the service account file is too long")
        return ServiceAccount.from_json(raw)

    def provider(self) -> HttpPushProvider:
        account = self.account()
        project = self.project_id or (account.project_id if account else None)
        if not project:
            raise ValueError(f"push provider {self.name}: no project_id, in the settings or the service account")
        token = self.access_token.get_secret_value() if self.access_token else ""
        return HttpPushProvider(HttpPushConfig(name=self.name, base_url=self.base_url, project_id=project,
                                               access_token=token, service_account=account))  # fmt: skip


def development_defaults() -> tuple[list[SmtpProviderSettings], list[SmsProviderSettings], list[PushProviderSettings]]:
    """The sandbox providers ``make run`` starts (deploy/sandbox): its mailbox, its two SMS
    providers and its push provider, with their development credentials."""
    email = [SmtpProviderSettings(name="mailbox", host="127.0.0.1", port=2525, sender="no-reply@portal.localhost",
                                  username="portal", password=SecretStr("development"))]  # fmt: skip
    sms = [
        SmsProviderSettings(name=f"sandbox-{x}", base_url=f"http://127.0.0.1:8030/{x}",
                            api_key=SecretStr(f"development-sms-{x}-key"),
                            signing_secret=SecretStr(f"development-sms-{x}-secret"))
        for x in ("a", "b")
    ]  # fmt: skip
    push = [PushProviderSettings(name="sandbox-push", base_url="http://127.0.0.1:8030/push",
                                 project_id="portal-development",
                                 access_token=SecretStr("development-push-token"))]  # fmt: skip
    return email, sms, push


def unsafe_for_production(
    email: list[SmtpProviderSettings], sms: list[SmsProviderSettings], push: list[PushProviderSettings]
) -> list[str]:
    """What a production deployment must not carry: development credentials, loopback hosts,
    SMTP without TLS, a static push access token (FCM's last an hour), no provider at all for a
    channel."""
    problems: list[str] = []
    for channel, configured in ((Channel.EMAIL, email), (Channel.SMS, sms), (Channel.PUSH, push)):
        if not configured:
            problems.append(f"no {channel.value} provider")
    for e in email:
        if e.host in ("127.0.0.1", "localhost", "::1") or e.security == "none":
            problems.append(f"e-mail provider {e.name} is local or unencrypted")
        if e.password is not None and "development" in e.password.get_secret_value():
            problems.append(f"e-mail provider {e.name} has a development password")
    for s in sms:
        if "127.0.0.1" in s.base_url or "localhost" in s.base_url:
            problems.append(f"SMS provider {s.name} is on loopback")
        if any("development" in x for x in (s.api_key.get_secret_value(), s.signing_secret.get_secret_value())):
            problems.append(f"SMS provider {s.name} has development credentials")
    for p in push:
        urls = (p.base_url, p.service_account.token_uri if p.service_account else "")
        token = p.access_token.get_secret_value() if p.access_token else ""
        account_email = p.service_account.client_email if p.service_account else ""
        if any("127.0.0.1" in u or "localhost" in u for u in urls) or "development" in token + account_email:
            problems.append(f"push provider {p.name} is the sandbox")
        elif p.access_token is not None:
            problems.append(f"push provider {p.name} has a static access token (it expires within the hour)")
    return problems
