"""A consumer's session: how long its group waits for it before moving its partitions, set once
for the deployment (``KAFKA_SESSION_TIMEOUT_MS``), with heartbeats at a third of it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.dossier.settings import DossierSettings
from services.kit.kafka import make_consumer
from services.kit.settings import KafkaSettings


async def test_the_consumer_beats_three_times_a_session() -> None:
    consumer = make_consumer(KafkaSettings(kafka_session_timeout_ms=9_000), "things.events", ["things.events"])
    assert (consumer._session_timeout_ms, consumer._heartbeat_interval_ms) == (9_000, 3_000)


def test_one_variable_sets_it_for_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SESSION_TIMEOUT_MS", "7500")
    assert DossierSettings().kafka_session_timeout_ms == 7_500


@pytest.mark.parametrize("value", [5_999, 300_001])
def test_below_kafkas_least_or_above_five_minutes_is_refused(value: int) -> None:
    with pytest.raises(ValidationError):
        KafkaSettings(kafka_session_timeout_ms=value)
