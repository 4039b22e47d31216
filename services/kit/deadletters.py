"""``python -m services.<name> dead-letters list|retry --since T``: the service's dead letters, read
from its dead-letter topic (``<name>.dlq``), and their re-drive.

A dead letter (``kit.deadletter.recorded.v1``, :class:`DeadLetterRecorded`) holds the original
message whole — topic, key, headers, value — with the consumer group that gave up on it, the
error and when. The consumer recorded it together with the event's inbox row, so that group
never applies that event again by itself.

``retry`` re-drives each selected dead letter, in one transaction each: it removes that group's
inbox row of the event and writes the original event — same id, type, data, correlation and
trace — to this service's outbox, for its original topic (a row still in the outbox is marked
unpublished instead). The relay publishes it; every group reading that topic receives it again,
the groups that applied it skip it (their inbox), the one that gave up applies it. A dead letter
is retried once: the retry is recorded in the inbox too (consumer ``<group>.dead-letter-retries``,
the dead letter's id), so running the same command twice re-drives nothing twice; if the event
fails again, it is dead-lettered again, under a new id, which may be retried in turn.

A message that was not a readable event (``original_event_id`` empty) cannot be re-driven: it is
listed, and ``retry`` reports it as ``unreadable``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import delete, text, update

from contracts.envelope import CloudEvent, InvalidEvent
from contracts.events.platform import DeadLetterRecorded

from .consumer import DEAD_LETTER_TYPE, claim_inbox
from .db import Database
from .logging import get_logger
from .settings import ServiceSettings
from .tables import OUTBOX_CHANNEL, inbox, outbox

log = get_logger(__name__)

RETRIES_SUFFIX = ".dead-letter-retries"


class LetterView(TypedDict):
    """A dead letter as ``dead-letters list`` prints it (one JSON line)."""

    id: str
    failed_at: str
    consumer: str
    topic: str
    partition: int
    offset: int
    key: str | None
    event_id: str | None
    event_type: str | None
    attempts: int
    error: str


@dataclass(frozen=True)
class Letter:
    """One dead letter: its own event id, where it lies in the dead-letter topic, what it says."""

    id: str
    partition: int
    offset: int
    recorded: DeadLetterRecorded

    def view(self) -> LetterView:
        r = self.recorded
        error = r.error.splitlines()[0][:300] if r.error else ""
        return {"id": self.id, "failed_at": r.failed_at.isoformat(), "consumer": r.consumer, "topic": r.topic,
                "partition": r.partition, "offset": r.offset, "key": r.key, "event_id": r.original_event_id,
                "event_type": r.original_type, "attempts": r.attempts, "error": error}  # fmt: skip


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def add_dead_letter_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "retry"], help="list them, or re-drive them")
    parser.add_argument("--since", type=_aware, required=True, help="ISO time; dead letters recorded at or after it")
    parser.add_argument("--until", type=_aware, help="ISO time; dead letters recorded before it")
    parser.add_argument("--consumer", help="only this consumer group's (e.g. dossier.statistics)")
    parser.add_argument("--id", action="append", dest="ids", default=[],
                        help="only this dead letter (its id, or its event's id); repeatable")  # fmt: skip


async def run_dead_letters(db: Database, settings: ServiceSettings, args: Any) -> int:
    letters = await read_dead_letters(settings, since=args.since, until=args.until)
    chosen = [
        letter for letter in letters
        if (args.consumer is None or letter.recorded.consumer == args.consumer)
        and (not args.ids or letter.id in args.ids or letter.recorded.original_event_id in args.ids)
    ]  # fmt: skip
    if args.action == "list":
        print(json.dumps({"topic": settings.dead_letter_topic, "dead_letters": [x.view() for x in chosen]},
                         ensure_ascii=False, indent=2))  # fmt: skip
        return 0
    outcomes: dict[str, list[str]] = {"retried": [], "already_retried": [], "unreadable": []}
    for letter in chosen:
        outcomes[await retry(db, letter)].append(letter.id)
    print(json.dumps(outcomes, indent=2))
    return 0


async def read_dead_letters(
    settings: ServiceSettings, *, since: datetime, until: datetime | None = None, idle_seconds: float = 5.0
) -> list[Letter]:
    """The dead letters on ``<service>.dlq`` recorded in ``[since, until)``, in topic order per
    partition (oldest first overall)."""
    topic = settings.dead_letter_topic
    partitions = [TopicPartition(topic, p) for p in await _partitions(settings, topic)]
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None, enable_auto_commit=False,
        client_id=f"{settings.service_name}-dead-letters", request_timeout_ms=settings.kafka_request_timeout_ms,
    )  # fmt: skip
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        starts = await _starts(consumer, partitions, since)
        todo = {tp: ends[tp] for tp in partitions if starts[tp] < ends[tp]}
        if not todo:
            return []
        consumer.assign(list(todo))
        for tp in todo:
            consumer.seek(tp, starts[tp])
        letters = await _read(consumer, todo, idle_seconds)
    finally:
        await consumer.stop()
    return sorted(
        (x for x in letters if x.recorded.failed_at >= since and (until is None or x.recorded.failed_at < until)),
        key=lambda x: (x.recorded.failed_at, x.partition, x.offset),
    )


async def _partitions(settings: ServiceSettings, topic: str) -> list[int]:
    """The partitions of ``topic`` (none when it does not exist)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=settings.kafka_request_timeout_ms
    )
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(
        p["partition"] for t in described if t["topic"] == topic and not t["error_code"] for p in t["partitions"]
    )


async def _starts(consumer: AIOKafkaConsumer, partitions: list[TopicPartition], since: datetime) -> dict[Any, int]:
    """The first offset of each partition written at or after ``since`` (the start, where the
    broker cannot look offsets up by time)."""
    beginnings = await consumer.beginning_offsets(partitions)
    try:
        found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
    except Exception as exc:  # not every Kafka-protocol broker supports it: read from the start
        log.info("offsets by time unavailable; reading the dead-letter topic whole", error=str(exc))
        return dict(beginnings)
    ends = await consumer.end_offsets(partitions)
    return {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in partitions}


async def _read(consumer: AIOKafkaConsumer, todo: dict[Any, int], idle_seconds: float) -> list[Letter]:
    letters: list[Letter] = []
    loop = asyncio.get_running_loop()
    last_progress = loop.time()
    while todo and loop.time() - last_progress < idle_seconds:
        batches = await consumer.getmany(timeout_ms=500)
        for tp, records in batches.items():
            last_progress = loop.time()
            for record in records:
                if record.offset >= todo.get(tp, 0):
                    continue
                letter = _letter(record)
                if letter is not None:
                    letters.append(letter)
            if records and records[-1].offset + 1 >= todo.get(tp, 0):
                todo.pop(tp, None)
    return letters


def _letter(record: Any) -> Letter | None:
    try:
        event = CloudEvent.from_kafka(record.headers, record.value)
        if event.type != DEAD_LETTER_TYPE:
            return None
        return Letter(event.id, record.partition, record.offset, DeadLetterRecorded.model_validate(event.data))
    except (InvalidEvent, ValueError) as exc:
        log.warning("unreadable message on the dead-letter topic", partition=record.partition, offset=record.offset,
                    error=str(exc))  # fmt: skip
        return None


def original_event(recorded: DeadLetterRecorded) -> CloudEvent | None:
    """The event the dead letter holds, as it was on its topic; None when it was not a readable event."""
    if recorded.original_event_id is None or recorded.value is None:
        return None
    try:
        value = base64.b64decode(recorded.value) if recorded.value_encoding == "base64" else recorded.value.encode()
        event = CloudEvent.from_kafka([(k, v.encode()) for k, v in recorded.headers.items()], value)
    except (InvalidEvent, ValueError):
        return None
    return event if event.id == recorded.original_event_id else None


async def retry(db: Database, letter: Letter) -> str:
    """Re-drive one dead letter (see the module's docstring): ``retried``, ``already_retried`` or
    ``unreadable``."""
    recorded = letter.recorded
    event = original_event(recorded)
    if event is None:
        return "unreadable"
    async with db.transaction() as uow:
        if not await claim_inbox(uow, recorded.consumer + RETRIES_SUFFIX, letter.id, DEAD_LETTER_TYPE):
            return "already_retried"
        await uow.connection.execute(
            delete(inbox).where(inbox.c.consumer == recorded.consumer, inbox.c.event_id == event.id)
        )
        republish = update(outbox).where(outbox.c.event_id == event.id).values(published_at=None)
        again = await uow.connection.execute(republish)
        if again.rowcount:
            await uow.connection.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
        else:
            await uow.add_event(event, key=recorded.key, topic=recorded.topic)
    log.info("dead letter retried", dead_letter=letter.id, consumer=recorded.consumer, event_id=event.id,
             event_type=event.type, topic=recorded.topic)  # fmt: skip
    return "retried"
