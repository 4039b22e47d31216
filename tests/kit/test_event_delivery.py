"""The outbox and consumer runner against the real PostgreSQL and the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text

from contracts.envelope import CloudEvent
from deploy.local.components import EmbeddedKafka, free_port
from services.kit.consumer import EVENTS_HANDLED, ConsumerRunner
from services.kit.db import Database, UnitOfWork
from services.kit.outbox import OutboxRelay, backlog, replay
from tests.conftest import make_settings, unique
from tests.support.events import ThingHappened
from tests.support.kafka import create_topics, produce_raw, read_topic

pytestmark = pytest.mark.integration

TYPE = ThingHappened.TYPE


@contextlib.asynccontextmanager
async def running(*loops) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    """Run relays/consumers in the background for the duration of the block."""
    tasks = [asyncio.create_task(loop.run()) for loop in loops]
    try:
        yield
    finally:
        for loop in loops:
            loop.stop()
        done, pending = await asyncio.wait(tasks, timeout=15)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception():
                raise task.exception()  # type: ignore[misc]
        for loop in loops:
            if isinstance(loop, OutboxRelay):
                await loop.close()


async def eventually(check, timeout: float = 25.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(interval)


async def emit_many(db: Database, topic: str, keys: list[str], per_key: int) -> list[CloudEvent]:
    """One transaction per event, interleaving keys, as concurrent use cases would."""
    events = []
    for i in range(per_key):
        for key in keys:
            async with db.transaction() as uow:
                events.append(await uow.emit(ThingHappened(key=key, seq=i), key=key, topic=topic))
    return events


async def make_applied_table(db: Database) -> None:
    async with db.transaction() as uow:
        await uow.connection.execute(text("CREATE TABLE applied (event_id text, key text, seq int)"))


async def record_applied(uow: UnitOfWork, event: CloudEvent) -> None:
    await uow.connection.execute(
        text("INSERT INTO applied VALUES (:id, :key, :seq)"),
        {"id": event.id, "key": event.data["key"], "seq": event.data["seq"]},
    )


async def applied_rows(db: Database) -> list[tuple[str, str, int]]:
    async with db.sessions() as session:
        return [tuple(r) for r in (await session.execute(text("SELECT event_id, key, seq FROM applied"))).all()]


@pytest.fixture
async def db(kit_db_url: str) -> AsyncIterator[Database]:
    database = Database(kit_db_url, source="tests", topic="unused")
    yield database
    await database.dispose()


async def test_events_of_one_key_arrive_in_order(db: Database, infra) -> None:
    topic = unique("order-")
    await create_topics(infra.bootstrap, topic, partitions=3)
    settings = make_settings(unique("svc"), str(db.engine.url.render_as_string(False)), infra.bootstrap)
    events = await emit_many(db, topic, ["a", "b", "c", "d"], per_key=15)

    async with running(OutboxRelay(settings, db)):
        records = await read_topic(infra.bootstrap, topic, expected=len(events))

    assert len(records) == len(events)
    by_key: dict[str, list[int]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert dict(record.headers)["ce_type"] == TYPE.encode()
        by_key.setdefault(record.key.decode(), []).append(json.loads(record.value)["seq"])
    assert by_key == {k: list(range(15)) for k in "abcd"}
    assert await backlog(db) == 0


async def test_published_event_is_a_binary_mode_cloudevent(db: Database, infra) -> None:
    topic = unique("shape-")
    await create_topics(infra.bootstrap, topic, partitions=1)
    settings = make_settings(unique("svc"), db.engine.url.render_as_string(False), infra.bootstrap)
    async with db.transaction() as uow:
        sent = await uow.emit(ThingHappened(key="k", seq=1, name="Cấp giấy phép"), key="agg-1", topic=topic)
    async with running(OutboxRelay(settings, db)):
        [record] = await read_topic(infra.bootstrap, topic, expected=1)
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_id"] == sent.id
    assert headers["ce_source"] == "tests"
    assert headers["content-type"] == "application/json"
    assert record.key == b"agg-1"
    received = CloudEvent.from_kafka(record.headers, record.value)
    assert received.data == {"key": "k", "seq": 1, "name": "Cấp giấy phép"}
    assert received.time == sent.time


async def test_writes_succeed_while_the_broker_is_down_and_are_delivered_once_after(db: Database, infra) -> None:
    """A dedicated broker is stopped: writes commit, the outbox grows, nothing is lost."""
    broker = EmbeddedKafka(free_port())
    settings = make_settings(unique("svc"), db.engine.url.render_as_string(False), broker.bootstrap)
    topic = unique("outage-")
    await make_applied_table(db)
    relay = OutboxRelay(settings, db)
    consumer = ConsumerRunner(settings, db, name="applier", topics=[topic], handlers={TYPE: record_applied})
    try:
        async with running(relay):
            events = await emit_many(db, topic, ["x", "y"], per_key=10)  # broker not started
            await asyncio.sleep(1.0)
            assert await backlog(db) == 20
            broker.start()
            await create_topics(broker.bootstrap, topic, partitions=2)
            assert await eventually(lambda: _backlog_is(db, 0))
        async with running(consumer):
            rows = await eventually(lambda: _rows_when(db, len(events)))
        assert sorted(r[0] for r in rows) == sorted(e.id for e in events)
    finally:
        broker.stop()


async def _backlog_is(db: Database, n: int) -> bool:
    return await backlog(db) == n


async def _rows_when(db: Database, n: int):  # type: ignore[no-untyped-def]
    rows = await applied_rows(db)
    return rows if len(rows) >= n else None


class SimulatedCrash(BaseException):
    """Not an Exception: nothing in the runner catches it, as nothing survives a SIGKILL."""


class CrashBeforeOffsetCommit(ConsumerRunner):
    """Dies, as a killed process would, after its database commit and before the offset commit."""

    async def commit_offsets(self, offsets):  # type: ignore[no-untyped-def]
        raise SimulatedCrash


async def test_consumer_that_dies_before_committing_its_offset_does_not_apply_twice(db: Database, infra) -> None:
    topic = unique("crash-")
    await create_topics(infra.bootstrap, topic, partitions=1)
    settings = make_settings(unique("svc"), db.engine.url.render_as_string(False), infra.bootstrap)
    await make_applied_table(db)
    events = await emit_many(db, topic, ["k"], per_key=5)
    async with running(OutboxRelay(settings, db)):
        assert await eventually(lambda: _backlog_is(db, 0))

    crashing = CrashBeforeOffsetCommit(settings, db, name="applier", topics=[topic], handlers={TYPE: record_applied})
    with pytest.raises(SimulatedCrash):
        await asyncio.wait_for(crashing.run(), 30)
    await crashing._close()
    assert len(await applied_rows(db)) == 5  # applied and committed, offsets not

    survivor = ConsumerRunner(settings, db, name="applier", topics=[topic], handlers={TYPE: record_applied})
    async with running(survivor):
        # The whole batch is delivered again and each event skipped through the inbox.
        assert await eventually(lambda: _counted(survivor.group_id, "duplicate", 5))
        assert await eventually(lambda: _committed(survivor, TopicPartition(topic, 0), 5))
    rows = await applied_rows(db)
    assert sorted(r[2] for r in rows) == [0, 1, 2, 3, 4]
    assert len({r[0] for r in rows}) == len(events)


async def test_a_stopped_consumer_leaves_its_group_even_in_its_first_generation(db: Database, infra) -> None:
    """The local broker numbers a group's first generation 0: a member that did not leave would
    keep the next member of its group (a restarted worker, the next test's) waiting for partitions
    until the broker dropped it at the end of its session."""
    topic = unique("leave-")
    await create_topics(infra.bootstrap, topic, partitions=1)
    settings = make_settings(unique("svc"), db.engine.url.render_as_string(False), infra.bootstrap)
    first = ConsumerRunner(settings, db, name="applier", topics=[topic], handlers={TYPE: record_applied})
    async with running(first):
        assert await eventually(lambda: _assigned(first))
        assert await _members(infra.bootstrap, first.group_id) == 1
    assert await _members(infra.bootstrap, first.group_id) == 0


async def _assigned(runner: ConsumerRunner) -> bool:
    return runner.kafka_consumer is not None and bool(runner.kafka_consumer.assignment())


async def _members(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    [(_, _, _, _, _, members, *_)] = described.groups
    return len(members)


async def _counted(group: str, outcome: str, n: int) -> bool:
    return EVENTS_HANDLED.labels(group, outcome)._value.get() >= n


async def _committed(runner: ConsumerRunner, tp: TopicPartition, offset: int) -> bool:
    consumer = runner._consumer
    return consumer is not None and (await consumer.committed(tp) or 0) >= offset


async def test_poison_messages_go_to_the_dead_letter_topic_and_the_next_ones_are_processed(db: Database, infra) -> None:
    service = unique("svc")
    topic = unique("poison-")
    settings = make_settings(service, db.engine.url.render_as_string(False), infra.bootstrap)
    await create_topics(infra.bootstrap, topic, settings.dead_letter_topic, partitions=1)
    await make_applied_table(db)
    calls: list[str] = []

    async def fails_on_seq_1(uow: UnitOfWork, event: CloudEvent) -> None:
        calls.append(event.id)
        if event.data["seq"] == 1:
            raise ValueError("cannot apply seq 1")
        await record_applied(uow, event)

    # Another service's type is passed over unread, however malformed; one of ours is poison.
    await produce_raw(infra.bootstrap, topic, b"{not json", key=b"k", headers=[("ce_type", b"x.y.z.v1")])
    await produce_raw(infra.bootstrap, topic, b"{not json", key=b"k", headers=[("ce_type", TYPE.encode())])
    good_before, bad, good_after = [
        CloudEvent(source="tests", type=TYPE, data={"key": "k", "seq": seq}) for seq in (0, 1, 2)
    ]
    for event in (good_before, bad, good_after):
        await produce_raw(infra.bootstrap, topic, event.kafka_value(), key=b"k", headers=event.kafka_headers())

    runner = ConsumerRunner(settings, db, name="applier", topics=[topic], handlers={TYPE: fails_on_seq_1})
    async with running(runner, OutboxRelay(settings, db)):
        rows = await eventually(lambda: _rows_when(db, 2))
        letters = await read_topic(infra.bootstrap, settings.dead_letter_topic, expected=2)

    assert sorted(r[2] for r in rows) == [0, 2]
    assert calls.count(bad.id) == settings.consumer_max_attempts
    assert len(letters) == 2
    bodies = [json.loads(r.value) for r in letters]
    assert bodies[0]["value"] == "{not json" and bodies[0]["error"].startswith("invalid event")
    assert bodies[0]["headers"]["ce_type"] == TYPE  # the other service's message was not dead-lettered
    assert bodies[1]["original_event_id"] == bad.id
    assert "cannot apply seq 1" in bodies[1]["error"]
    assert bodies[1]["attempts"] == settings.consumer_max_attempts
    assert {dict(r.headers)["ce_type"] for r in letters} == {b"kit.deadletter.recorded.v1"}


async def test_replay_refills_a_restarted_empty_broker(db: Database, infra) -> None:
    broker = EmbeddedKafka(free_port())
    broker.start()
    settings = make_settings(unique("svc"), db.engine.url.render_as_string(False), broker.bootstrap)
    topic = unique("replay-")
    try:
        await create_topics(broker.bootstrap, topic, partitions=2)
        before = datetime.now(UTC) - timedelta(seconds=1)
        events = await emit_many(db, topic, ["p", "q", "r"], per_key=4)
        async with running(OutboxRelay(settings, db)):
            assert len(await read_topic(broker.bootstrap, topic, expected=12)) == 12

        broker.kill()
        broker.start()  # memory storage: it comes back empty
        await create_topics(broker.bootstrap, topic, partitions=2)
        assert await read_topic(broker.bootstrap, topic, expected=1, timeout=2) == []

        assert await replay(db, since=before, topic=topic) == 12
        assert await replay(db, since=before, topic="another-topic") == 0
        async with running(OutboxRelay(settings, db)):
            records = await read_topic(broker.bootstrap, topic, expected=12)
        assert sorted(dict(r.headers)["ce_id"].decode() for r in records) == sorted(e.id for e in events)
    finally:
        broker.stop()


async def test_only_one_relay_of_a_service_is_active(db: Database, infra) -> None:
    settings = make_settings(unique("svc"), db.engine.url.render_as_string(False), infra.bootstrap)
    first, second = OutboxRelay(settings, db), OutboxRelay(settings, db)
    async with running(first, second):
        await asyncio.sleep(1.5)
        async with db.sessions() as session:
            holders = await session.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
                     "(SELECT oid FROM pg_database WHERE datname = current_database())")
            )  # fmt: skip
    assert holders == 1


async def test_a_run_of_batch_handled_events_is_applied_together_and_once(db: Database, infra) -> None:  # type: ignore[no-untyped-def]
    await make_applied_table(db)
    topic = unique("batch-")
    await create_topics(infra.bootstrap, topic, partitions=1)
    settings = make_settings(unique("svc"), db.engine.url.render_as_string(False), infra.bootstrap)
    events = [CloudEvent(source="t", type=TYPE, data={"key": "k", "seq": i}) for i in range(30)]
    for event in [*events[:10], events[3], *events[10:]]:  # one event delivered twice, in the middle
        await produce_raw(infra.bootstrap, topic, event.kafka_value(), key=b"k", headers=event.kafka_headers())
    calls: list[int] = []

    async def apply_all(uow: UnitOfWork, batch: list[CloudEvent]) -> None:
        calls.append(len(batch))
        for event in batch:
            await record_applied(uow, event)

    runner = ConsumerRunner(settings, db, name="batcher", topics=[topic], handlers={TYPE: record_applied},
                            batch_handlers={TYPE: apply_all})  # fmt: skip
    async with running(runner):
        rows = await eventually(lambda: _rows_when(db, 30))
    assert sorted(r[2] for r in rows) == list(range(30)) and len(rows) == 30  # each once
    assert sum(calls) == 30 and len(calls) < 30  # applied in batches, not one by one


async def test_a_failing_batch_is_applied_one_by_one_with_the_bad_event_dead_lettered(db: Database, infra) -> None:  # type: ignore[no-untyped-def]
    await make_applied_table(db)
    topic = unique("batchfail-")
    await create_topics(infra.bootstrap, topic, partitions=1)
    settings = make_settings(unique("svc"), db.engine.url.render_as_string(False), infra.bootstrap)
    await create_topics(infra.bootstrap, settings.dead_letter_topic)
    events = [CloudEvent(source="t", type=TYPE, data={"key": "k", "seq": i}) for i in range(8)]
    for event in events:
        await produce_raw(infra.bootstrap, topic, event.kafka_value(), key=b"k", headers=event.kafka_headers())

    async def one(uow: UnitOfWork, event: CloudEvent) -> None:
        if event.data["seq"] == 5:
            raise ValueError("seq 5 cannot be applied")
        await record_applied(uow, event)

    async def all_or_nothing(uow: UnitOfWork, batch: list[CloudEvent]) -> None:
        for event in batch:
            await one(uow, event)

    runner = ConsumerRunner(settings, db, name="batcher", topics=[topic], handlers={TYPE: one},
                            batch_handlers={TYPE: all_or_nothing})  # fmt: skip
    async with running(runner, OutboxRelay(settings, db)):
        rows = await eventually(lambda: _rows_when(db, 7))
        letters = await read_topic(infra.bootstrap, settings.dead_letter_topic, expected=1)
    assert sorted(r[2] for r in rows) == [0, 1, 2, 3, 4, 6, 7] and len(rows) == 7  # nothing twice, nothing lost
    assert len(letters) == 1


async def test_a_poll_over_several_partitions_is_applied_together_in_each_keys_order(db: Database, infra) -> None:  # type: ignore[no-untyped-def]
    await make_applied_table(db)
    topic = unique("spread-")
    await create_topics(infra.bootstrap, topic, partitions=3)
    settings = make_settings(unique("svc"), db.engine.url.render_as_string(False), infra.bootstrap)
    keys = ["a", "b", "c", "d", "e", "f"]  # spread over the three partitions by the producer's hash
    for seq in range(10):
        for key in keys:
            event = CloudEvent(source="t", type=TYPE, data={"key": key, "seq": seq})
            await produce_raw(infra.bootstrap, topic, event.kafka_value(), key=key.encode(),
                              headers=event.kafka_headers())  # fmt: skip
    seen: dict[str, list[int]] = {}
    batches: list[set[str]] = []

    async def apply_all(uow: UnitOfWork, batch: list[CloudEvent]) -> None:
        batches.append({event.data["key"] for event in batch})
        for event in batch:
            seen.setdefault(event.data["key"], []).append(event.data["seq"])
            await record_applied(uow, event)

    runner = ConsumerRunner(settings, db, name="spread", topics=[topic], handlers={TYPE: record_applied},
                            batch_handlers={TYPE: apply_all})  # fmt: skip
    async with running(runner):
        await eventually(lambda: _rows_when(db, 60))
        for partition in range(3):  # every partition's offset committed to its end
            assert await eventually(lambda p=partition: _committed_all(runner, TopicPartition(topic, p)))
    assert seen == {key: list(range(10)) for key in keys}  # each key in its order, each event once
    partition_of = {r.key.decode(): r.partition for r in await read_topic(infra.bootstrap, topic, expected=60)}
    assert len(set(partition_of.values())) > 1
    # One poll's records from several partitions went into one batch (one transaction).
    assert any(len({partition_of[key] for key in batch}) > 1 for batch in batches)


async def _committed_all(runner: ConsumerRunner, tp: TopicPartition) -> bool:
    consumer = runner._consumer
    if consumer is None:
        return False
    end = (await consumer.end_offsets([tp]))[tp]
    return end > 0 and (await consumer.committed(tp) or 0) == end
