"""The consumer runner: at-least-once delivery from Kafka, effectively-once in effect.

For each message: in one transaction, claim ``(consumer, event_id)`` in the inbox and run
the handler; commit; only then commit the Kafka offset. A redelivered message finds its
inbox row and is skipped. A handler that keeps failing is retried with backoff a bounded
number of times; then the message is written, with the error, to the service's dead-letter
topic (through the outbox, so it is durable) and processing goes on.

Batches: an event type may also have a *batch handler*. Consecutive events of that type (or of
types sharing that handler) in one poll of one partition are then applied together, in one
transaction, after claiming all their inbox rows in one statement (repeats dropped). If the
batch handler fails for any reason but a lost database or network, nothing of the batch is
kept and its events are applied one by one, in order, with the usual retries and
dead-lettering: order and effect are those of one by one.
"""

from __future__ import annotations

import asyncio
import base64
import traceback
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from contracts.envelope import CloudEvent, InvalidEvent
from contracts.events.platform import DeadLetterRecorded

from . import tracing
from .aio import wait_or_stop
from .db import Database, UnitOfWork
from .errors import PermanentFailure
from .kafka import make_consumer, stop_consumer
from .logging import correlation_id_var, get_logger
from .metrics import dead_lettered
from .settings import ServiceSettings
from .tables import inbox

log = get_logger(__name__)

Handler = Callable[[UnitOfWork, CloudEvent], Awaitable[None]]
BatchHandler = Callable[[UnitOfWork, list[CloudEvent]], Awaitable[None]]
DEAD_LETTER_TYPE = DeadLetterRecorded.TYPE

EVENTS_HANDLED = Counter("consumer_events_total", "Events seen by consumers", ["consumer", "outcome"])


class ConsumerRunner:
    """Runs one consumer group over ``topics``, dispatching by event type to ``handlers``."""

    def __init__(
        self,
        settings: ServiceSettings,
        db: Database,
        *,
        name: str,
        topics: Iterable[str],
        handlers: Mapping[str, Handler],
        batch_handlers: Mapping[str, BatchHandler] | None = None,
    ):
        self.batch_handlers = dict(batch_handlers or {})
        self.settings = settings
        self.db = db
        self.group_id = f"{settings.service_name}.{name}"
        self.topics = list(topics)
        self.handlers = dict(handlers)
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Consume until :meth:`stop`; reconnect after broker failures."""
        while not self._stopping.is_set():
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer interrupted; reconnecting", consumer=self.group_id, error=str(exc))
                await self._close()
                await wait_or_stop(self._stopping, 2.0)
        await self._close()

    async def _consume(self) -> None:
        self._consumer = make_consumer(self.settings, self.group_id, self.topics)
        await self._consumer.start()
        log.info("consumer started", consumer=self.group_id, topics=self.topics)
        while not self._stopping.is_set():
            batches = await self._consumer.getmany(timeout_ms=500, max_records=self.settings.consumer_max_poll_records)
            if not batches:
                continue
            # Every partition's records together, each partition's in its order: keys never span
            # partitions, so the order that matters is kept, and one poll costs one transaction
            # per run of a batch type and one offset commit, not one of each per partition.
            await self.process_all([record for records in batches.values() for record in records])
            await self.commit_offsets({tp: records[-1].offset + 1 for tp, records in batches.items()})

    async def process_all(self, records: list[ConsumerRecord]) -> None:
        """Records in the given order: runs of a batch-handled type together, the rest one
        by one. Each record is read once; one whose ``ce_type`` header names a type this
        consumer does not handle is passed over unread (topics carry many types)."""
        parsed = [(record, self._parse(record)) for record in records if not self._unwanted(record)]
        i = 0
        while i < len(parsed):
            run = self._batchable_run(parsed, i)
            if len(run) > 1:
                if not await self._apply_batch(run):
                    for record, event in run:
                        await self.process(record, event)
                i += len(run)
            else:
                await self.process(*parsed[i])
                i += 1

    def _unwanted(self, record: ConsumerRecord) -> bool:
        for key, raw in record.headers or ():
            if key == "ce_type":
                kind = raw.decode(errors="replace") if raw is not None else ""
                if kind in self.handlers or kind in self.batch_handlers:
                    return False
                EVENTS_HANDLED.labels(self.group_id, "ignored").inc()
                return True
        return False  # no type: read it, and dead-letter it as invalid

    @staticmethod
    def _parse(record: ConsumerRecord) -> CloudEvent | InvalidEvent:
        try:
            return CloudEvent.from_kafka(record.headers, record.value)
        except InvalidEvent as exc:
            return exc

    def _batchable_run(
        self, parsed: list[tuple[ConsumerRecord, CloudEvent | InvalidEvent]], start: int
    ) -> list[tuple[ConsumerRecord, CloudEvent]]:
        """The consecutive events from ``start`` whose types share one batch handler (a handler
        registered for several types takes them mixed, in order)."""
        run: list[tuple[ConsumerRecord, CloudEvent]] = []
        for record, event in parsed[start:]:
            if not isinstance(event, CloudEvent) or event.type not in self.batch_handlers:
                break
            if run and self.batch_handlers[event.type] is not self.batch_handlers[run[0][1].type]:
                break
            run.append((record, event))
        return run

    async def _apply_batch(self, run: list[tuple[ConsumerRecord, CloudEvent]]) -> bool:
        """Apply a run with its batch handler in one transaction; False when it must be done one by one."""
        events = [event for _, event in run]
        spans = tracing.BatchSpans(self.group_id, run)
        try:
            async with self.db.unit_of_work() as uow:
                claimed = await claim_inbox_many(uow, self.group_id, events)
                fresh, seen = [], set()
                for event in events:
                    if event.id in claimed and event.id not in seen:
                        fresh.append(event)
                        seen.add(event.id)
                if fresh:
                    await self.batch_handlers[events[0].type](uow, fresh)
                await uow.commit()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            spans.end(error=type(exc).__name__)
            if is_infrastructure_failure(exc):
                raise
            log.warning("batch failed; applying its events one by one", consumer=self.group_id,
                        event_type=events[0].type, events=len(events), error=str(exc))  # fmt: skip
            return False
        spans.end()
        EVENTS_HANDLED.labels(self.group_id, "applied").inc(len(fresh))
        EVENTS_HANDLED.labels(self.group_id, "duplicate").inc(len(events) - len(fresh))
        return True

    @property
    def kafka_consumer(self) -> AIOKafkaConsumer | None:
        """The client while connected (the worker samples its lag from it)."""
        return self._consumer

    async def commit_offsets(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit after the database commit; a crash in between only causes a skipped redelivery."""
        assert self._consumer is not None
        await self._consumer.commit(dict(offsets))

    async def _close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            try:
                await asyncio.wait_for(stop_consumer(consumer), 10)
            except Exception as exc:  # closing a broken client must not stop the runner
                log.debug("consumer close failed", error=str(exc))

    async def process(self, record: ConsumerRecord, event: CloudEvent | InvalidEvent | None = None) -> None:
        """Handle one record to the end: applied, skipped, or dead-lettered. Never raises for bad
        input. ``event`` is the record already read, if it was."""
        event = self._parse(record) if event is None else event
        if isinstance(event, InvalidEvent):
            await self._dead_letter(record, None, f"invalid event: {event}", attempts=1)
            return
        handler = self.handlers.get(event.type) or self._one_by_one(event.type)
        if handler is None:
            EVENTS_HANDLED.labels(self.group_id, "ignored").inc()
            return
        correlation = correlation_id_var.set(event.correlationid)
        try:
            with tracing.consuming(self.group_id, record, event):  # the event's trace (a span, when exporting)
                await self._apply_with_retries(record, event, handler)
        finally:
            correlation_id_var.reset(correlation)

    def _one_by_one(self, event_type: str) -> Handler | None:
        """A type with only a batch handler is handled one event at a time by that handler."""
        batch_handler = self.batch_handlers.get(event_type)
        if batch_handler is None:
            return None

        async def handler(uow: UnitOfWork, event: CloudEvent) -> None:
            await batch_handler(uow, [event])

        return handler

    async def _apply_with_retries(self, record: ConsumerRecord, event: CloudEvent, handler: Handler) -> None:
        attempts = 0
        while True:
            attempts += 1
            try:
                applied = await self._apply(event, handler)
                EVENTS_HANDLED.labels(self.group_id, "applied" if applied else "duplicate").inc()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_infrastructure_failure(exc):
                    # Not the message's fault: let the runner reconnect and redeliver it.
                    raise
                if isinstance(exc, PermanentFailure) or attempts >= self.settings.consumer_max_attempts:
                    error = "".join(traceback.format_exception_only(exc)).strip()
                    await self._dead_letter(record, event, error, attempts)
                    return
                delay = self.settings.consumer_backoff_seconds * (2 ** (attempts - 1))
                log.warning(
                    "event handler failed; retrying",
                    consumer=self.group_id,
                    event_type=event.type,
                    event_id=event.id,
                    attempt=attempts,
                    error=str(exc),
                )
                await asyncio.sleep(min(delay, 30.0))

    async def _apply(self, event: CloudEvent, handler: Handler) -> bool:
        async with self.db.unit_of_work() as uow:
            if not await claim_inbox(uow, self.group_id, event.id, event.type):
                return False
            await handler(uow, event)
            await uow.commit()
        return True

    async def _dead_letter(self, record: ConsumerRecord, event: CloudEvent | None, error: str, attempts: int) -> None:
        """Record the failure durably: inbox row (so it is not retried) + dead-letter event in the outbox."""
        log.error(
            "event dead-lettered",
            consumer=self.group_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=error,
        )
        EVENTS_HANDLED.labels(self.group_id, "dead_lettered").inc()
        dead_lettered(self.group_id, event.type if event else "invalid")
        event_id = event.id if event else f"{record.topic}/{record.partition}/{record.offset}"
        letter = dead_letter_of(record, event, self.group_id, error, attempts)
        async with self.db.unit_of_work() as uow:
            if await claim_inbox(uow, self.group_id, event_id, event.type if event else "invalid"):
                await uow.emit(
                    letter,
                    key=record.key.decode(errors="replace") if record.key else event_id,
                    subject=event_id,
                    topic=self.settings.dead_letter_topic,
                )
            await uow.commit()


Contract = TypeVar("Contract", bound=BaseModel)


def event_data(contract: type[Contract], data: Mapping[str, Any]) -> Contract:
    """An event's data as its contract model; :class:`PermanentFailure` (dead-lettered, never
    retried) when it does not fit."""
    try:
        return contract.model_validate(data)
    except ValidationError as exc:
        raise PermanentFailure(f"{contract.__name__}: {exc}") from exc


def is_infrastructure_failure(exc: BaseException) -> bool:
    """A lost database connection or a network error: the message is not to blame."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (OperationalError, InterfaceError, OSError, ConnectionError, TimeoutError))


async def claim_inbox_many(uow: UnitOfWork, consumer: str, events: list[CloudEvent]) -> set[str]:
    """Insert the inbox rows of many events in one statement; the ids not seen before."""
    types = {e.id: e.type for e in events}  # an event repeated in the run is claimed once
    result = await uow.connection.execute(
        _CLAIM_MANY, {"consumer": consumer, "event_ids": list(types), "event_types": list(types.values())}
    )
    return {row.event_id for row in result}


# One statement whatever the number of events (a multi-row VALUES list would be compiled anew
# for every batch size).
_CLAIM_MANY = text(
    f"INSERT INTO {inbox.name} (consumer, event_id, event_type) "
    "SELECT :consumer, e.event_id, e.event_type "
    "FROM unnest(CAST(:event_ids AS text[]), CAST(:event_types AS text[])) AS e(event_id, event_type) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)


# One statement object for every claim (its compiled form is cached; values come as parameters).
_CLAIM = insert(inbox).on_conflict_do_nothing().returning(inbox.c.event_id)


async def claim_inbox(uow: UnitOfWork, consumer: str, event_id: str, event_type: str) -> bool:
    """Insert the inbox row; False when this consumer already processed the event."""
    parameters = {"consumer": consumer, "event_id": event_id, "event_type": event_type}
    result = await uow.connection.execute(_CLAIM, parameters)
    return result.first() is not None


def dead_letter_of(
    record: ConsumerRecord, event: CloudEvent | None, consumer: str, error: str, attempts: int
) -> DeadLetterRecorded:
    value: str | None = None
    encoding = "utf-8"
    if record.value is not None:
        try:
            value = record.value.decode()
        except UnicodeDecodeError:
            value, encoding = base64.b64encode(record.value).decode(), "base64"
    return DeadLetterRecorded(
        consumer=consumer,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode(errors="replace") if record.key else None,
        headers={k: v.decode(errors="replace") for k, v in (record.headers or ()) if v is not None},
        value=value,
        value_encoding=encoding,
        original_event_id=event.id if event else None,
        original_type=event.type if event else None,
        error=error[:4000],
        attempts=attempts,
        failed_at=datetime.now(UTC),
    )
