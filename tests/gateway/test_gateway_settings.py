"""Gateway settings from the environment, and what production refuses."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from gateway.settings import SERVICES, GatewaySettings
from services.kit.settings import Environment

PRODUCTION_OK = {
    "environment": "production",
    "public_url": "https://dichvucong.example.gov.vn",
    "cors_origins": ["https://dichvucong.example.gov.vn"],
    # In a cluster the services are reached by their names, never on loopback.
    **{f"{name}_url": f"http://{name}:8000" for name in SERVICES},
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("GATEWAY_", "PORTAL_")):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = GatewaySettings()

    assert (settings.host, settings.port, settings.public_url) == ("127.0.0.1", 8000, "http://127.0.0.1:8000")
    assert settings.upstreams == {
        "identity": "http://127.0.0.1:8001",
        "catalogue": "http://127.0.0.1:8002",
        "dossier": "http://127.0.0.1:8003",
        "payment": "http://127.0.0.1:8004",
        "sync": "http://127.0.0.1:8005",
        "feedback": "http://127.0.0.1:8006",
        "notification": "http://127.0.0.1:8007",
    }
    assert settings.max_body_bytes == 25 * 1024 * 1024
    assert (settings.upstream_timeout_seconds, settings.connect_timeout_seconds) == (30.0, 3.0)
    assert settings.cors_origins == []


def test_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PORT", "9000")
    monkeypatch.setenv("GATEWAY_DOSSIER_URL", "http://dossier:8080/")
    monkeypatch.setenv("GATEWAY_MAX_BODY_BYTES", "1024")
    monkeypatch.setenv("GATEWAY_RATE_LIMIT_PER_MINUTE", "120")
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", "https://a.example, https://b.example")

    settings = GatewaySettings()

    assert settings.port == 9000
    assert settings.upstreams["dossier"] == "http://dossier:8080"
    assert settings.max_body_bytes == 1024
    assert settings.rate_limit_per_minute == 120
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_cors_origins_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", '["https://a.example"]')

    assert GatewaySettings().cors_origins == ["https://a.example"]


def test_shared_variables_and_the_prefixed_form_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_ENVIRONMENT", "test")
    monkeypatch.setenv("PORTAL_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("PORTAL_OIDC_ISSUER", "http://issuer.internal:8000")
    monkeypatch.setenv("GATEWAY_LOG_LEVEL", "WARNING")

    settings = GatewaySettings()

    assert settings.environment is Environment.TEST
    assert settings.public_url == "http://issuer.internal:8000"
    assert settings.log_level == "WARNING"


def test_upstream_urls_must_be_http() -> None:
    with pytest.raises(ValidationError, match="absolute http"):
        GatewaySettings(sync_url="sync:8005")


def test_production_accepts_public_values() -> None:
    assert GatewaySettings(**PRODUCTION_OK).environment is Environment.PRODUCTION


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"public_url": "http://127.0.0.1:8000"}, "public_url points at a development host"),
        ({"dossier_url": "http://127.0.0.1:8003"}, "dossier_url points at a development host"),
        ({"cors_origins": ["*"]}, "cors_origins allows every origin"),
        ({"cors_origins": ["http://localhost:3000"]}, "cors_origins lists a development origin"),
    ],
)
def test_production_refuses_development_values(override: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        GatewaySettings(**{**PRODUCTION_OK, **override})
