"""Settings of the identity service, read from ``IDENTITY_*`` environment variables."""

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ApplicantKeySettings, ServiceSettings


class IdentitySettings(ServiceSettings, ApplicantKeySettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    service_name: ClassVar[str] = "identity"

    port: int = Field(default=8001, ge=0, le=65535)

    # --- OpenID Connect provider ---
    # Encrypts private signing keys at rest (any string; production refuses an empty one).
    key_encryption_key: SecretStr = SecretStr("")
    access_token_seconds: int = Field(default=600, ge=30, le=3600)
    id_token_seconds: int = Field(default=600, ge=30, le=3600)
    authorization_code_seconds: int = Field(default=60, ge=10, le=600)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    # Two refreshes racing with the same token both succeed inside this window.
    refresh_grace_seconds: int = Field(default=10, ge=0, le=120)
    session_hours: int = Field(default=8, ge=1, le=720)
    signing_key_bits: int = Field(default=2048, ge=2048, le=4096)
    # A new key is published this long before it signs, so every cached JWKS has it.
    key_publish_ahead_seconds: int = Field(default=3600, ge=0)
    private_key_jwt_leeway_seconds: int = Field(default=60, ge=0, le=600)
    # Back-channel logout: the worker posts logout tokens every so often, this many at a time,
    # each with this timeout; a failure is tried again after the base delay doubled each time (up
    # to the cap), at most this many times in all; then it is abandoned (and logged).
    backchannel_every_seconds: float = Field(default=2.0, gt=0, le=60)
    backchannel_batch: int = Field(default=20, ge=1, le=500)
    backchannel_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    backchannel_retry_base_seconds: float = Field(default=5.0, gt=0, le=3600)
    backchannel_retry_max_seconds: float = Field(default=900.0, gt=0, le=86400)
    backchannel_max_attempts: int = Field(default=8, ge=1, le=50)
    # Delivered and abandoned logouts are kept this long (the audit of deliveries), then deleted.
    backchannel_audit_days: int = Field(default=90, ge=1, le=3650)
    # PAR (RFC 9126): a request_uri's life until it is first used (RFC 9126 §2.2 advises 5 to
    # 600 s; FAPI 2.0 wants under 600), then how long it stays usable while the person signs in.
    pushed_request_seconds: int = Field(default=60, ge=10, le=90)
    pushed_request_sign_in_seconds: int = Field(default=600, ge=60, le=3600)
    # --- end OpenID Connect provider ---

    # --- accounts ---
    # Server-side key of the accounts: keys the hashes of one-time codes and encrypts TOTP secrets
    # at rest (production refuses an empty one).
    accounts_secret_key: SecretStr = SecretStr("")
    # argon2id cost. Defaults follow RFC 9106's second recommended option scaled for a server:
    # 3 passes over 64 MiB with 2 lanes (~50 ms). Tests lower them; production keeps them.
    password_hash_time_cost: int = Field(default=3, ge=1, le=20)
    password_hash_memory_kib: int = Field(default=64 * 1024, ge=8, le=4 * 1024 * 1024)
    password_hash_parallelism: int = Field(default=2, ge=1, le=16)
    password_min_length: int = Field(default=10, ge=8, le=64)
    password_max_length: int = Field(default=128, ge=16, le=1024)
    name_max_length: int = Field(default=200, ge=10, le=1000)
    # One-time codes sent by SMS (registration, password reset).
    code_digits: int = Field(default=6, ge=6, le=10)
    code_ttl_seconds: int = Field(default=300, ge=1, le=3600)
    code_max_attempts: int = Field(default=5, ge=1, le=20)
    code_sends_per_phone: int = Field(default=3, ge=1, le=100)
    code_phone_window_seconds: int = Field(default=900, ge=1)
    code_sends_per_ip: int = Field(default=10, ge=1, le=10_000)
    code_ip_window_seconds: int = Field(default=3600, ge=1)
    # Sign-in: progressive lockout per account, throttling per client IP (failures in a window).
    lockout_threshold: int = Field(default=5, ge=1, le=100)
    lockout_base_seconds: int = Field(default=60, ge=1)
    lockout_max_seconds: int = Field(default=3600, ge=1)
    sign_in_ip_max_failures: int = Field(default=20, ge=1, le=100_000)
    sign_in_ip_window_seconds: int = Field(default=900, ge=1)
    # TOTP second factor: steps of tolerance either side of now, name shown in authenticator apps.
    totp_valid_window: int = Field(default=1, ge=0, le=2)
    totp_issuer: str = Field(default="Cổng Dịch vụ công quốc gia", max_length=100)
    # Inactive accounts: warned every interval, so many times, then locked.
    inactive_warn_after_days: int = Field(default=730, ge=1)
    inactive_warnings: int = Field(default=2, ge=0, le=24)
    inactive_warning_interval_days: int = Field(default=30, ge=1)
    inactive_sweep_batch: int = Field(default=500, ge=1, le=100_000)
    # Delivery of codes and notices: "store" keeps messages in a table (development and tests,
    # read at /api/v1/identity/dev/messages); "webhook" POSTs {channel, to, text} to an SMS gateway.
    notifier: str = Field(default="store", pattern="^(store|webhook)$")
    notifier_webhook_url: str = ""
    notifier_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    # --- national e-ID (federation: identity is a relying party of VNeID; docs/federation.md) ---
    # The e-ID's issuer (its discovery document is read from there); empty: no e-ID sign-in.
    # make run sets the sandbox e-ID's; production names the real e-ID (loopback refused there).
    eid_issuer: str = ""
    # The client the e-ID registered for identity (private_key_jwt with identity's own signing key).
    eid_client_id: str = Field(default="portal-identity", min_length=1, max_length=200)
    eid_scope: str = Field(default="openid profile phone", pattern=r"^openid( [a-z_:]{1,40}){0,10}$")
    eid_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    eid_max_response_bytes: int = Field(default=256 * 1024, ge=4096, le=4 * 1024 * 1024)
    eid_discovery_seconds: int = Field(default=3600, ge=0, le=86_400)
    eid_jwks_min_refresh_seconds: float = Field(default=10.0, ge=0, le=3600)
    # How long a person has at the e-ID before the sign-in started here is forgotten.
    eid_sign_in_seconds: int = Field(default=600, ge=60, le=3600)
    eid_id_token_leeway_seconds: int = Field(default=60, ge=0, le=300)
    # Whether citizens and enterprises may still sign in with portal passwords (Decree 69/2024:
    # they sign in with the e-ID). Unset: allowed except in production. Officials and
    # administrators always keep their passwords (and second factor).
    public_password_sign_in: bool | None = None

    @property
    def public_passwords_allowed(self) -> bool:
        if self.public_password_sign_in is not None:
            return self.public_password_sign_in
        return self.environment != "production"

    def model_post_init(self, context: object, /) -> None:
        super().model_post_init(context)
        if self.environment == "production" and self.notifier == "store":
            raise ValueError("refusing production settings: notifier 'store' delivers nothing; use 'webhook'")
        if self.notifier == "webhook" and not self.notifier_webhook_url:
            raise ValueError("notifier 'webhook' needs notifier_webhook_url")
        if not self.eid_issuer and not self.public_passwords_allowed:
            raise ValueError("citizens and enterprises could not sign in: set eid_issuer or public_password_sign_in")

    # --- end accounts ---

    # The development client of the notification service (``notification-service``: client
    # credentials, scope identity:contacts), seeded with the fixtures; its secret, a documented
    # placeholder (seeding is refused in production, where the client is registered like any other).
    notification_client_secret: SecretStr = SecretStr("notification-service-development-secret")
