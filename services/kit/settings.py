"""Settings, read from the environment with pydantic-settings.

Every service has its own prefix (``DOSSIER_DATABASE_URL``). A few settings are
shared by the whole deployment and may also be given once without a prefix
(``KAFKA_BOOTSTRAP_SERVERS``, ``PORTAL_ENVIRONMENT``...); the prefixed form wins.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, StringConstraints, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


# Values that only a development machine may use. Production refuses them.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "development", "dev-secret", "test"})
DEVELOPMENT_HOSTS = ("127.0.0.1", "localhost", "::1")

SHARED_ENV = {
    # field name -> unprefixed environment variable
    "environment": "PORTAL_ENVIRONMENT",
    "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "kafka_enable_idempotence": "KAFKA_ENABLE_IDEMPOTENCE",
    "kafka_topic_partitions": "KAFKA_TOPIC_PARTITIONS",
    "kafka_session_timeout_ms": "KAFKA_SESSION_TIMEOUT_MS",
    "oidc_issuer": "PORTAL_OIDC_ISSUER",
    "oidc_jwks_url": "PORTAL_OIDC_JWKS_URL",
    "log_level": "PORTAL_LOG_LEVEL",
    "log_json": "PORTAL_LOG_JSON",
    "applicant_key_secret": "PORTAL_APPLICANT_KEY",
    # OpenTelemetry's own name for the collector: spans are exported only when it is set.
    "otlp_endpoint": "OTEL_EXPORTER_OTLP_ENDPOINT",
}


class SharedEnvSource(EnvSettingsSource):
    """Reads only the deployment-wide settings, by their unprefixed names."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        env_name = SHARED_ENV.get(field_name)
        if env_name is None:
            return None, field_name, False
        value = self.env_vars.get(env_name.lower() if not self.case_sensitive else env_name)
        return value, field_name, self.field_is_complex(field)


class SharedEnvSettings(BaseSettings):
    """Settings whose deployment-wide fields may also come from unprefixed variables."""

    shared_source: ClassVar[type[SharedEnvSource]] = SharedEnvSource

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, cls.shared_source(settings_cls), file_secret_settings)


class KafkaSettings(BaseSettings):
    """What a Kafka client needs; kept apart so tools can build one without a service."""

    model_config = SettingsConfigDict(extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:59092"
    # The embedded broker cannot initialise idempotent producers; real Kafka should use them.
    kafka_enable_idempotence: bool = False
    kafka_topic_partitions: int = Field(default=6, ge=1, le=1000)
    kafka_request_timeout_ms: int = Field(default=10_000, ge=100)
    # How long the broker may hold a consumer's fetch when there is nothing new: the delay an
    # event can wait before its consumer sees it on a quiet topic (Kafka's own default is 500).
    kafka_fetch_max_wait_ms: int = Field(default=100, ge=10, le=5_000)
    # How long a consumer may go unheard before its group gives its partitions to the others (it
    # beats every third of it). Shorter: a dead worker's partitions move sooner, and a broker that
    # holds a group's join for half of it (the local one does) lets a starting worker in sooner;
    # longer: a worker whose loop stalls is not taken for dead. Kafka's brokers allow 6 s and up.
    kafka_session_timeout_ms: int = Field(default=10_000, ge=6_000, le=300_000)


class ApplicantKeySettings(BaseSettings):
    """For the services that share the applicant pseudonym (identity, dossier): one key for the
    whole deployment, ``PORTAL_APPLICANT_KEY`` (``services.kit.pseudonyms``). Production refuses
    the development placeholder."""

    applicant_key_secret: SecretStr = SecretStr("development")


class CalendarSettings(BaseSettings):
    """For the services that count working days (:func:`services.kit.calendar.calendar_of`
    builds their calendar); read with the service's prefix (``DOSSIER_HOLIDAYS``)."""

    # Days off (ISO dates) the government decided on top of the national calendar (the
    # ``holidays`` package's Vietnam list, any year); they replace it when ``holidays_replace``
    # is true. ``working_days``: rest days made working days (a swapped Saturday). Weekends are
    # Saturday and Sunday.
    holidays: list[str] = Field(default_factory=list)
    holidays_replace: bool = False
    working_days: list[str] = Field(default_factory=list)


#: An S3 bucket's name, for a service that sets its own default bucket (``s3_bucket: S3Bucket = ...``).
S3Bucket = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]


class StorageSettings(BaseSettings):
    """For the services that keep files (:func:`services.kit.storage.storage_of` builds their
    store); read with the service's prefix (``DOSSIER_STORAGE``). A service sets its own default
    folder and bucket (dossier's: ``.data/dossier-files``, ``dossier-files``)."""

    # Where files are kept: ``local`` is a folder (``make run`` puts it under its data folder),
    # ``s3`` a bucket of an S3-compatible store (production: every replica sees it).
    storage: Literal["local", "s3"] = "local"
    storage_dir: Path = Path(".data/files")
    s3_endpoint: str = ""
    s3_bucket: S3Bucket = "portal-files"
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: SecretStr | None = None

    @model_validator(mode="after")
    def _s3_needs_its_endpoint_and_keys(self) -> StorageSettings:
        secret = self.s3_secret_key.get_secret_value() if self.s3_secret_key is not None else ""
        if self.storage == "s3" and not (self.s3_endpoint and self.s3_access_key and secret):
            raise ValueError("storage 's3' needs s3_endpoint, s3_access_key and s3_secret_key")
        return self


class ServiceSettings(SharedEnvSettings, KafkaSettings):
    """Settings every service has. A service subclasses it and sets ``env_prefix``."""

    model_config = SettingsConfigDict(extra="ignore", env_prefix="SERVICE_")

    service_name: ClassVar[str] = "service"

    environment: Environment = Environment.DEVELOPMENT
    database_url: SecretStr = SecretStr("postgresql+asyncpg://postgres@127.0.0.1:55432/portal")
    # Connections an API process keeps to PostgreSQL, and never more (no overflow; see db.py):
    # across every process, a few times the database's cores is where its throughput peaks.
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_statement_timeout_ms: int = Field(default=15_000, ge=100)

    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=0, le=65535)
    # Upper bound on a request body the service itself accepts (the gateway has its own).
    max_body_bytes: int = Field(default=1 * 1024 * 1024, ge=1024)
    # A request whose body stops arriving this long is answered 408 and its connection closed.
    body_idle_seconds: float = Field(default=10.0, gt=0, le=300)

    oidc_issuer: str = "http://127.0.0.1:8000"
    # Where to fetch signing keys. Inside the deployment this is the identity service directly.
    oidc_jwks_url: str = "http://127.0.0.1:8001/oauth2/jwks"
    oidc_jwks_cache_seconds: int = Field(default=300, ge=1)
    # A token with an unknown kid triggers a refetch at most this often (keys are published before use).
    oidc_jwks_min_refresh_seconds: float = Field(default=10.0, ge=0)
    # Tokens remembered as checked (about 2.3 KB each: 20,000 hold some 46 MB). Below the number
    # of citizens active with one process within a token's lifetime, every request checks its
    # signature again (an LRU visited in turn by more tokens than it holds keeps none).
    oidc_token_memory: int = Field(default=20_000, ge=0, le=1_000_000)

    # Published outbox rows are kept this long so that an emptied broker can be refilled.
    outbox_retention_hours: int = Field(default=7 * 24, ge=1)
    outbox_batch_size: int = Field(default=200, ge=1, le=5000)
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # After a commit wakes the relay, it waits this long for more before claiming a batch. Under
    # load a round (claim, send, acks, mark) carries that many milliseconds of commits: 25 ms cut
    # the worker's CPU per submission by about a tenth against 10 ms, for ~15 ms more delay.
    outbox_gather_ms: float = Field(default=25.0, ge=0, le=1000)
    inbox_retention_hours: int = Field(default=30 * 24, ge=1)

    consumer_max_attempts: int = Field(default=5, ge=1, le=50)
    consumer_backoff_seconds: float = Field(default=0.2, ge=0, le=60)
    # Records taken from the broker per poll (a batch handler applies a poll's runs of its type at once).
    consumer_max_poll_records: int = Field(default=500, ge=1, le=10_000)

    log_level: str = "INFO"
    log_json: bool = True
    # Where spans go (OTLP over HTTP, protobuf): the collector's base URL, e.g. http://collector:4318.
    # Empty: no exporter, and tracing costs next to nothing (services/kit/tracing.py).
    otlp_endpoint: str = ""

    # The worker's samplers (outbox backlog and age, consumer lag) look this often.
    metrics_sample_seconds: float = Field(default=10.0, gt=0, le=300)
    # The worker's /healthz fails once its event loop has not run its heartbeat for this long.
    worker_liveness_seconds: float = Field(default=30.0, ge=1, le=600)

    @property
    def audience(self) -> str:
        """The ``aud`` a token must carry to be used against this service."""
        return self.service_name

    @property
    def topic(self) -> str:
        """The topic this service publishes its events to."""
        return f"{self.service_name}.events"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.service_name}.dlq"

    @model_validator(mode="after")
    def _refuse_development_values_in_production(self) -> ServiceSettings:
        if self.environment is Environment.PRODUCTION:
            refuse_development_values(self)
        return self


def is_development_url(url: str) -> bool:
    """True when ``url`` points at this machine (a loopback host)."""
    host = urlsplit(url).hostname or ""
    return host in DEVELOPMENT_HOSTS or host.startswith("127.")


def refuse_development_values(settings: BaseSettings, *, allow_loopback: frozenset[str] = frozenset()) -> None:
    """Raise when a production configuration still carries a placeholder secret, a URL on
    loopback (``*_url`` and ``*issuer`` fields not named in ``allow_loopback``) or a ``dev_*``
    switch that is on."""
    problems: list[str] = []
    for name, value in settings:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(value, SecretStr) and text.strip().lower() in PLACEHOLDER_SECRETS:
            problems.append(f"{name} is a placeholder")
        elif (
            isinstance(text, str)
            and name.endswith(("_url", "issuer"))
            and name not in allow_loopback
            and is_development_url(text)
        ):
            problems.append(f"{name} points at a development host")
        if name.startswith("dev_") and value:
            problems.append(f"{name} is a development-only switch")
    if problems:
        raise ValueError("refusing production settings: " + "; ".join(problems))
