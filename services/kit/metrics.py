"""The Prometheus metrics an operator watches beyond the per-process ones kept beside their code
(``http``: requests and latency by route; ``outbox``: events published, relay active, backlog;
``consumer``: events seen by outcome; the gateway's upstream metrics), and the samplers the
worker runs to keep the sampled ones current.

- ``outbox_backlog`` and ``outbox_oldest_unpublished_age_seconds``: sampled from the outbox table
  by the worker whose relay is active (one per service), every ``metrics_sample_seconds``; other
  replicas export neither, so ``max by (service)`` is the service's figure. The age is what a
  broker outage or a stuck relay shows first: events are being written and not published.
- ``consumer_lag_messages{consumer, topic, partition}``: the broker's end offset minus the
  consumer's position (the next record it will hand to the runner), for each partition assigned
  to this process, sampled likewise.
- ``consumer_dead_letters_total{consumer, event_type}``: events given up on (sent to the
  service's dead-letter topic).
- ``worker_event_loop_delay_seconds``: how late the worker's heartbeat ran (a blocked loop).

Names used by ``deploy/grafana`` and ``deploy/prometheus`` are checked against the registry by
``tests/deploy/test_observability_files.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import AIOKafkaConsumer
from prometheus_client import REGISTRY, Counter, Gauge
from sqlalchemy import text

from . import tracing
from .db import Database
from .logging import get_logger
from .outbox import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE

log = get_logger(__name__)

CONSUMER_LAG = Gauge(
    "consumer_lag_messages",
    "Messages on the broker beyond the consumer's position, per assigned partition (sampled)",
    ["consumer", "topic", "partition"],
)
DEAD_LETTERS = Counter(
    "consumer_dead_letters_total", "Events a consumer gave up on (sent to the dead-letter topic)",
    ["consumer", "event_type"],
)  # fmt: skip
LOOP_DELAY = Gauge(
    "worker_event_loop_delay_seconds", "How late the worker's once-a-second heartbeat last ran", ["service"]
)


def dead_lettered(consumer: str, event_type: str) -> None:
    """An event (``invalid`` when it could not be read) was dead-lettered by ``consumer``."""
    DEAD_LETTERS.labels(consumer, event_type).inc()
    tracing.mark_failed("dead-lettered")


# One statement: the backlog (read from the partial index of unpublished rows) and the age of the
# oldest row in it, by the database's clock.
_OUTBOX_SAMPLE = text(
    "SELECT (SELECT count(*) FROM kit_outbox WHERE published_at IS NULL) AS backlog, "
    "COALESCE(EXTRACT(EPOCH FROM now() - (SELECT created_at FROM kit_outbox WHERE published_at IS NULL "
    "ORDER BY id LIMIT 1)), 0) AS age"
)


def relay_active(service: str) -> bool:
    """Whether this process's outbox relay holds the service's relay lock."""
    return bool(REGISTRY.get_sample_value("outbox_relay_active", {"service": service}))


async def sample_outbox(db: Database, service: str) -> tuple[int, float] | None:
    """Set the backlog and the oldest row's age, when this process's relay is the active one
    (else drop them: the active replica reports). Returns what was set."""
    if not relay_active(service):
        for gauge in (OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE):
            _forget(gauge, service)
        return None
    async with db.engine.connect() as conn:
        row = (await conn.execute(_OUTBOX_SAMPLE)).one()
    backlog, age = int(row.backlog), max(0.0, float(row.age))
    OUTBOX_BACKLOG.labels(service).set(backlog)
    OUTBOX_OLDEST_AGE.labels(service).set(age)
    return backlog, age


class LagSampler:
    """Keeps ``consumer_lag_messages`` of one consumer group current: end offsets against the
    positions of the partitions this process holds; the series of partitions it no longer holds
    are dropped."""

    def __init__(self, consumer: str):
        self.consumer = consumer
        self._exported: set[tuple[str, str]] = set()

    async def sample(self, client: AIOKafkaConsumer | None) -> dict[tuple[str, int], int]:
        lags: dict[tuple[str, int], int] = {}
        if client is not None:
            assigned = list(client.assignment())
            ends = await client.end_offsets(assigned) if assigned else {}
            for partition in assigned:
                try:
                    position = await asyncio.wait_for(client.position(partition), 2)
                except Exception as exc:  # revoked meanwhile, or no position yet: next time
                    log.debug("no position to sample", consumer=self.consumer, error=str(exc))
                    continue
                # The broker's end offset, or the high watermark its last fetch answer gave if that
                # is later (a Kafka-protocol broker may answer the offset lookup loosely).
                end = max(ends.get(partition) or 0, client.highwater(partition) or 0)
                lags[(partition.topic, partition.partition)] = max(0, end - position)
        current = {(topic, str(number)) for topic, number in lags}
        for topic, number in self._exported - current:
            _forget(CONSUMER_LAG, self.consumer, topic, number)
        for (topic, partition), lag in lags.items():
            CONSUMER_LAG.labels(self.consumer, topic, str(partition)).set(lag)
        self._exported = current
        return lags

    def forget(self) -> None:
        for topic, number in self._exported:
            _forget(CONSUMER_LAG, self.consumer, topic, number)
        self._exported = set()


def _forget(metric: Any, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # not exported: nothing to drop
        metric.remove(*labels)
