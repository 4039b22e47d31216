"""aiokafka clients built from settings, topic creation, and a broker health probe."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.group import LeaveGroupRequest

from contracts import services as registry

from .logging import get_logger
from .settings import KafkaSettings

log = get_logger(__name__)

# The services, by name, in the registry's order (contracts/services.py).
SERVICE_NAMES = registry.service_names()


def platform_topics() -> list[str]:
    """Every topic the platform uses: each registered service's events and its dead letters."""
    return registry.platform_topics()


def make_producer(settings: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        linger_ms=5,
        compression_type=None,
    )


def make_consumer(settings: KafkaSettings, group_id: str, topics: Iterable[str]) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=group_id,
        group_id=group_id,
        enable_auto_commit=False,
        # A wiped broker loses the committed offsets too: start over, the inbox skips what was done.
        auto_offset_reset="earliest",
        isolation_level="read_uncommitted",
        request_timeout_ms=max(settings.kafka_request_timeout_ms, 40_000),
        max_poll_records=200,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_session_timeout_ms // 3,
    )


LEAVE_GROUP_SECONDS = 2.0


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """Stop ``consumer``, leaving its group even in the group's first generation.

    aiokafka sends its LeaveGroup only for a generation above 0, as Apache Kafka numbers them from
    1; the local broker (Tansu) numbers a group's first generation 0. Its first member then never
    left: the next one to join the group (a worker started again, the next test's) was made the
    follower of that gone leader and got no partition until the broker dropped it at the end of
    its session, about 13 s later than a join otherwise takes, consuming nothing meanwhile.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    try:
        if coordinator is not None and coordinator.generation == 0 and coordinator.member_id:
            # No heartbeat must find the member gone and join the group again before it closes.
            await coordinator._stop_heartbeat_task()
            leave = LeaveGroupRequest(coordinator.group_id, coordinator.member_id)
            # One attempt, as aiokafka's own leave, and a short one: the broker may be the reason
            # the consumer stops; its session ends the membership anyway.
            await asyncio.wait_for(coordinator._send_req(leave), LEAVE_GROUP_SECONDS)
    except (KafkaError, OSError, TimeoutError) as exc:
        log.debug("leaving the consumer group failed", group=consumer._group_id, error=str(exc))
    finally:
        await consumer.stop()


async def ensure_topics(settings: KafkaSettings, topics: Iterable[str], *, partitions: int | None = None) -> None:
    """Create the topics that do not exist yet (idempotent)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=settings.kafka_request_timeout_ms
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in dict.fromkeys(topics) if t not in existing]
        if not wanted:
            return
        count = partitions or settings.kafka_topic_partitions
        with contextlib.suppress(TopicAlreadyExistsError):  # another process created it first
            await admin.create_topics([NewTopic(t, count, 1) for t in wanted])
        log.info("topics created", topics=wanted, partitions=count)
    finally:
        await admin.close()


class BrokerProbe:
    """Answers 'is the broker reachable?' cheaply, for readiness checks."""

    def __init__(self, settings: KafkaSettings, ttl_seconds: float = 2.0):
        self._settings = settings
        self._ttl = ttl_seconds
        self._checked_at = 0.0
        self._ok = False
        self._lock = asyncio.Lock()

    async def reachable(self) -> bool:
        loop = asyncio.get_running_loop()
        async with self._lock:
            if loop.time() - self._checked_at < self._ttl:
                return self._ok
            self._ok = await self._probe()
            self._checked_at = loop.time()
            return self._ok

    async def _probe(self) -> bool:
        # A metadata round trip, not a bare TCP connect: it proves a Kafka broker answers.
        client = AIOKafkaClient(
            bootstrap_servers=self._settings.kafka_bootstrap_servers, request_timeout_ms=2000, client_id="readyz"
        )
        try:
            await asyncio.wait_for(client.bootstrap(), 2.5)
            return True
        except Exception:  # any failure means "not reachable now"
            return False
        finally:
            await client.close()
