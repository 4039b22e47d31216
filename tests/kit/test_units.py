"""Pure pieces of the kit and the contracts, without servers."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import SecretStr, ValidationError

from contracts.envelope import CloudEvent, InvalidEvent
from contracts.export import drift
from services.dossier.settings import DossierSettings
from services.kit.logging import configure_logging, mask, mask_text, scrub
from services.kit.tracing import new_traceparent, trace_id


def test_a_cloudevent_survives_the_kafka_binding() -> None:
    event = CloudEvent(
        source="dossier", type="dossier.dossier.submitted.v1", subject="d-1", correlationid="c-1",
        traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01", data={"code": "H15.50-251203-2035", "n": 1},
    )  # fmt: skip
    back = CloudEvent.from_kafka(event.kafka_headers(), event.kafka_value())
    assert back == event


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        (
            [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"a.b.c.v1")],
            b"[1]",
            "object",
        ),
        ([("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"s")], b"{}", "type"),
        (
            [("ce_specversion", b"0.3"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"a.b.c.v1")],
            b"{}",
            "specversion",
        ),
        (
            [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"NotAType")],
            b"{}",
            "pattern",
        ),
        (
            [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"a.b.c.v1")],
            b"\xff",
            "(?i)utf-8",
        ),
        ([("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"a.b.c.v1")], None, "missing"),
    ],
)
def test_malformed_messages_are_invalid_events(headers, value, reason) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        CloudEvent.from_kafka(headers, value)


def test_a_malformed_traceparent_is_dropped_not_fatal() -> None:
    event = CloudEvent(source="s", type="a.b.c.v1", traceparent="garbage")
    assert event.traceparent is None


def test_traceparent_continues_the_callers_trace() -> None:
    parent = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    child = new_traceparent(parent)
    assert trace_id(child) == "1" * 32 and child != parent
    assert trace_id(new_traceparent("nonsense")) not in (None, "1" * 32)


def test_contract_schemas_match_the_models() -> None:
    assert drift() == []


def test_personal_identifiers_are_masked_and_secrets_dropped() -> None:
    assert mask("001099012345") == "*********345"
    record = scrub({
        "personal_id": "001099012345", "phone": "0912345678", "password": "hunter2",
        "client_secret": "s3cr3t", "headers": {"Authorization": "Bearer abc"}, "note": "citizen 001099012345 called",
    })  # fmt: skip
    assert record["personal_id"] == "*********345"
    assert record["phone"] == "*******678"
    assert record["password"] == "[redacted]" and record["client_secret"] == "[redacted]"
    assert record["headers"]["Authorization"] == "[redacted]"
    assert "001099012345" not in record["note"]
    assert mask_text("mail an.nguyen@example.vn or 0912345678") == "mail a***@example.vn or 0******678"


def test_digits_inside_a_hex_id_are_not_taken_for_a_person() -> None:
    ids = "request 4e0be0123456482db76ed46c logscan-0912345678ab trace a001099012345f"
    assert mask_text(ids) == ids
    assert mask_text("cccd=001099012345, tel:+84912345678.") == "cccd=*********345, tel:+84******678."


def test_log_lines_are_json_and_masked(capsys) -> None:
    configure_logging("dossier", "INFO", json=True)
    logging.getLogger("somewhere").info("applicant %s signed in", "001099012345")
    from services.kit.logging import get_logger

    get_logger("x").info("submitted", phone="0912345678", token="abc")
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert lines[0]["service"] == "dossier" and "001099012345" not in lines[0]["event"]
    assert lines[1]["phone"] == "*******678" and lines[1]["token"] == "[redacted]"


def test_service_settings_read_their_prefix_and_shared_names(monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-a:9092")
    monkeypatch.setenv("DOSSIER_PORT", "9100")
    monkeypatch.setenv("PORT", "1")  # unprefixed, not shared: ignored
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")  # likewise
    settings = DossierSettings()
    assert settings.kafka_bootstrap_servers == "broker-a:9092"
    assert settings.port == 9100
    assert "elsewhere" not in settings.database_url.get_secret_value()
    monkeypatch.setenv("DOSSIER_KAFKA_BOOTSTRAP_SERVERS", "broker-b:9092")
    assert DossierSettings().kafka_bootstrap_servers == "broker-b:9092"
    assert settings.topic == "dossier.events" and settings.audience == "dossier"


def test_production_refuses_development_values() -> None:
    public = {
        "environment": "production", "oidc_issuer": "https://dichvucong.example",
        "oidc_jwks_url": "http://identity:8000/oauth2/jwks",
        "database_url": SecretStr("postgresql://u:p@db.internal/dossier"),
        "applicant_key_secret": SecretStr("a-long-random-deployment-key"),
    }  # fmt: skip
    with pytest.raises(ValidationError, match="database_url points at a development host"):
        DossierSettings(environment="production", oidc_issuer="https://dichvucong.example")
    with pytest.raises(ValidationError, match="oidc_issuer points at a development host"):
        DossierSettings(environment="production", database_url=SecretStr("postgresql://u:p@db.internal/dossier"))
    with pytest.raises(ValidationError, match="oidc_jwks_url points at a development host"):
        DossierSettings(**{**public, "oidc_jwks_url": "http://127.0.0.2:8001/oauth2/jwks"})
    with pytest.raises(ValidationError, match="database_url is a placeholder"):
        DossierSettings(**{**public, "database_url": SecretStr("changeme")})
    with pytest.raises(ValidationError, match="applicant_key_secret is a placeholder"):
        DossierSettings(**{**public, "applicant_key_secret": SecretStr("development")})
    ok = DossierSettings(**public)
    assert ok.environment == "production"


def test_settings_reject_out_of_range_values() -> None:
    with pytest.raises(ValidationError):
        DossierSettings(port=70000)
    with pytest.raises(ValidationError):
        DossierSettings(outbox_batch_size=0)
