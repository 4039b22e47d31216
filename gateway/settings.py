"""Settings of the gateway, read from ``GATEWAY_*`` environment variables.

The deployment-wide ones may also be given once without the prefix, as for the services
(``PORTAL_ENVIRONMENT``, ``PORTAL_LOG_LEVEL``, ``PORTAL_LOG_JSON``), and ``public_url`` may
come from ``PORTAL_OIDC_ISSUER``: the gateway's public URL *is* the issuer every service
checks tokens against, so one variable keeps them from drifting apart. The prefixed form wins.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, create_model, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import NoDecode, SettingsConfigDict

from contracts.services import services
from services.kit.settings import (
    Environment,
    SharedEnvSettings,
    SharedEnvSource,
    is_development_url,
    refuse_development_values,
)

MIB = 1024 * 1024
# The services the gateway forwards to, by name, in the registry's order (contracts/services.py).
SERVICES = tuple(entry.name for entry in services())


class _GatewaySharedEnvSource(SharedEnvSource):
    """The kit's unprefixed shared variables, plus ``PORTAL_OIDC_ISSUER`` for ``public_url``."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name == "public_url":
            value, _, is_complex = super().get_field_value(field, "oidc_issuer")
            return value, field_name, is_complex
        return super().get_field_value(field, field_name)


def upstream_url_fields() -> dict[str, tuple[type[str], str]]:
    """A ``<name>_url`` field for every registered service (``GATEWAY_DOSSIER_URL``), by default its
    API on this machine at the registry's port."""
    return {f"{entry.name}_url": (str, f"http://127.0.0.1:{entry.port}") for entry in services()}


# Each service's base URL is a field of its own (its variable, keyword argument and production's
# loopback check), made from the registry rather than written out once per service.
if TYPE_CHECKING:
    _UpstreamURLs = SharedEnvSettings
else:
    _UpstreamURLs = create_model("_UpstreamURLs", __base__=SharedEnvSettings, **upstream_url_fields())


class GatewaySettings(_UpstreamURLs):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="GATEWAY_")
    shared_source: ClassVar[type[SharedEnvSource]] = _GatewaySharedEnvSource

    environment: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # The OIDC issuer: what browsers and relying parties see; discovery documents name it.
    public_url: str = "http://127.0.0.1:8000"
    # Peers whose X-Forwarded-For / -Proto uvicorn believes (a load balancer in front);
    # the client address they give is the one rate limits apply to.
    forwarded_allow_ips: str = "127.0.0.1"

    # <name>_url for each service: see upstream_url_fields.

    # Dossier attachments are up to 20 MiB; the rest is room for the multipart envelope.
    max_body_bytes: int = Field(default=25 * MIB, ge=1)
    # A request whose body stops arriving this long is answered 408 and its connection closed.
    body_idle_seconds: float = Field(default=10.0, gt=0, le=300)
    # Longest silence allowed from a service (per read or write), then 504.
    upstream_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Connecting, or waiting for a free pooled connection, longer than this is 503.
    connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    upstream_max_connections: int = Field(default=200, ge=1, le=10_000)
    retry_after_seconds: int = Field(default=5, ge=1, le=3600)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # A bearer token is checked here first (signature, issuer, expiry, and an audience naming
    # the service the path goes to), so a forged or misdirected token never reaches a service.
    # Services verify again: this is an early rejection, not the only one.
    verify_tokens: bool = True
    # Where the signing keys are; empty means the identity service's /oauth2/jwks.
    oidc_jwks_url: str = ""
    # Tokens remembered as checked, per service audience (as ``oidc_token_memory`` of a service).
    token_memory: int = Field(default=20_000, ge=0, le=1_000_000)

    # Per client address, per gateway process (see gateway.ratelimit). 0 turns it off.
    rate_limit_per_minute: int = Field(default=600, ge=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    rate_limit_max_clients: int = Field(default=100_000, ge=1)

    # Bound on each call the gateway makes on its own behalf: service /readyz and /openapi.json.
    readiness_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    openapi_cache_seconds: float = Field(default=60.0, ge=0)
    # The interactive docs (not served in production): Swagger UI's files, empty for the packaged
    # ones (a folder of swagger-ui-dist 5 files otherwise), and the public OIDC client its
    # Authorize button signs in with (code + PKCE, redirect <public_url>/docs/oauth2-redirect.html).
    docs_assets_dir: str = ""
    docs_client_id: str = "api-docs"

    log_level: str = "INFO"
    log_json: bool = True
    # Where spans go (OTLP over HTTP); empty: none are made (see services/kit/tracing.py).
    otlp_endpoint: str = ""

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins_from_text(cls, value: Any) -> Any:
        # An environment variable may hold a JSON list or plain comma-separated origins.
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [o.strip() for o in text.split(",") if o.strip()]
        return value

    @field_validator("public_url", *(f"{name}_url" for name in SERVICES))
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @property
    def jwks_url(self) -> str:
        return self.oidc_jwks_url or f"{self.upstreams['identity']}/oauth2/jwks"

    @property
    def upstreams(self) -> dict[str, str]:
        """Base URL of every service, by name, in a fixed order."""
        return {name: str(getattr(self, f"{name}_url")) for name in SERVICES}

    @model_validator(mode="after")
    def _refuse_development_values_in_production(self) -> GatewaySettings:
        if self.environment is Environment.PRODUCTION:
            refuse_development_values(self)
            problems = _gateway_development_values(self)
            if problems:
                raise ValueError("refusing production settings: " + "; ".join(problems))
        return self


def _gateway_development_values(settings: GatewaySettings) -> list[str]:
    """What the kit's generic rules cannot know: browsers are let in by ``cors_origins``.
    (``public_url`` and the service URLs are ``*_url`` fields: the kit refuses loopback ones.)"""
    problems = []
    if "*" in settings.cors_origins:
        problems.append("cors_origins allows every origin")
    if any(is_development_url(origin) for origin in settings.cors_origins):
        problems.append("cors_origins lists a development origin")
    return problems
