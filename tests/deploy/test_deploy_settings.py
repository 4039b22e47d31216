"""How tests/deploy derives the environment variables each process reads, from the settings classes."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from .manifests import (
    env_fields,
    load_settings,
    required_env_names,
    secret_env_names,
    settings_classes,
    storage_services,
)


def test_prefixed_and_shared_names():
    classes = settings_classes()
    dossier, catalogue, gateway = classes["services.dossier"], classes["services.catalogue"], classes["gateway"]
    assert env_fields(dossier)["DOSSIER_DATABASE_URL"] == "database_url"
    assert env_fields(dossier)["KAFKA_BOOTSTRAP_SERVERS"] == "kafka_bootstrap_servers"
    # The applicant key is shared by identity and dossier only.
    assert env_fields(dossier)["PORTAL_APPLICANT_KEY"] == "applicant_key_secret"
    assert "PORTAL_APPLICANT_KEY" not in env_fields(catalogue)
    # The gateway's public URL may come from the issuer's variable; it has no Kafka client.
    assert env_fields(gateway)["PORTAL_OIDC_ISSUER"] == "public_url"
    assert "KAFKA_BOOTSTRAP_SERVERS" not in env_fields(gateway)


def test_secrets_and_required_fields_are_found():
    payment = settings_classes()["services.payment"]
    assert {"PAYMENT_DATABASE_URL", "PAYMENT_VNPAY_HASH_SECRET", "PAYMENT_BANK_WEBHOOK_SECRETS"} <= secret_env_names(
        payment
    )
    assert "PAYMENT_VNPAY_PAY_URL" not in secret_env_names(payment)
    # The object store's keys, in every service that keeps files (the access key is typed as text).
    assert {"dossier", "feedback"} <= set(storage_services())
    for name, cls in storage_services().items():
        prefix = name.upper()
        assert {f"{prefix}_S3_ACCESS_KEY", f"{prefix}_S3_SECRET_KEY"} <= secret_env_names(cls), name
        assert f"{prefix}_S3_BUCKET" not in secret_env_names(cls), name
    assert "catalogue" not in storage_services()

    class Needs(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="X_")
        token: str
        level: int = 1

    assert required_env_names(Needs) == {"X_TOKEN"}
    assert required_env_names(payment) == set()


def test_settings_are_read_from_the_given_environment_only(monkeypatch):
    monkeypatch.setenv("DOSSIER_PORT", "9999")
    assert load_settings("services.dossier", {}).port == 8003
    assert load_settings("services.dossier", {"DOSSIER_PORT": "8103"}).port == 8103
    assert load_settings("gateway", {"PORTAL_OIDC_ISSUER": "https://a.example.invalid"}).public_url == (
        "https://a.example.invalid"
    )
