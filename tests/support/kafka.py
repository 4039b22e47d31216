"""Reading and writing topics directly, to observe what the platform published."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from services.kit.kafka import ensure_topics
from services.kit.settings import KafkaSettings


async def create_topics(bootstrap: str, *topics: str, partitions: int = 3) -> None:
    await ensure_topics(KafkaSettings(kafka_bootstrap_servers=bootstrap), topics, partitions=partitions)


async def _from_beginning(consumer: AIOKafkaConsumer, topic: str, deadline: float) -> None:
    """Assign every partition of ``topic`` (once the broker knows it, until ``deadline``), each at its start."""
    partitions = consumer.partitions_for_topic(topic)
    while not partitions and asyncio.get_running_loop().time() < deadline:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic)
        await asyncio.sleep(0.2)
    tps = [TopicPartition(topic, p) for p in sorted(partitions or ())]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)


async def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 20.0) -> list[ConsumerRecord]:
    """Every record of ``topic`` from the beginning, waiting until ``expected`` arrived or ``timeout``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        await _from_beginning(consumer, topic, deadline)
        records: list[ConsumerRecord] = []
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def produce_raw(bootstrap: str, topic: str, value: bytes, key: bytes | None = None, headers=()) -> None:  # type: ignore[no-untyped-def]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=key, headers=list(headers))
    finally:
        await producer.stop()


async def first_record(
    bootstrap: str, topic: str, match: Callable[[ConsumerRecord], bool], timeout: float = 20.0
) -> ConsumerRecord | None:
    """The first record of ``topic``, from the beginning, for which ``match`` holds; None when none
    arrived within ``timeout`` seconds."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        await _from_beginning(consumer, topic, deadline)
        while asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                for record in batch:
                    if match(record):
                        return record
        return None
    finally:
        await consumer.stop()


async def skip_backlog(bootstrap: str, group_id: str, *topics: str, timeout: float = 20.0) -> None:
    """Commit ``group_id``'s offsets at the end of ``topics``: a consumer of that group starting
    next reads only what is published from now on, not what earlier tests of the session left on
    the shared broker."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        partitions: list[TopicPartition] = []
        for topic in topics:
            found = consumer.partitions_for_topic(topic)
            while not found and asyncio.get_running_loop().time() < deadline:
                await consumer._client.force_metadata_update()
                found = consumer.partitions_for_topic(topic)
                await asyncio.sleep(0.2)
            partitions += [TopicPartition(topic, p) for p in sorted(found or ())]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({tp: offset for tp, offset in ends.items()})
    finally:
        await consumer.stop()
