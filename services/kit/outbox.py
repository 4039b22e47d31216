"""The outbox relay: publishes the events that use cases wrote to ``kit_outbox``.

* Woken by ``LISTEN kit_outbox`` (a trigger notifies on insert), with a polling fallback.
* One active relay per service: a session-level advisory lock; other replicas wait.
* Claims rows in id order with ``FOR UPDATE SKIP LOCKED``, publishes them in that order
  (so events of one key stay in order), marks them published in the same transaction.
* A broker outage only grows the outbox; the relay retries with backoff.
* Published rows are deleted after the retention period; until then ``replay`` can mark
  them unpublished again, which refills an emptied broker.
"""

from __future__ import annotations

import asyncio
import zlib
from datetime import datetime, timedelta
from typing import Any, cast

import asyncpg
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge
from sqlalchemy import CursorResult, and_, delete, func, select, text, update

from contracts.envelope import CloudEvent

from .aio import wait_or_stop
from .db import Database, async_url, command_timeout_seconds
from .kafka import make_producer
from .logging import get_logger
from .settings import ServiceSettings
from .tables import OUTBOX_CHANNEL, outbox
from .tracing import producer_span

log = get_logger(__name__)

EVENTS_PUBLISHED = Counter("outbox_events_published_total", "Events published from the outbox", ["service", "topic"])
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Unpublished outbox rows at the last look", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_unpublished_age_seconds",
    "Age of the oldest event not yet published (0 when none), sampled by the active relay's worker",
    ["service"],
)
RELAY_ACTIVE = Gauge("outbox_relay_active", "1 while this process holds the relay lock", ["service"])


def relay_lock_id(service: str) -> int:
    """A stable advisory-lock key per service (signed 64-bit, as PostgreSQL wants)."""
    return zlib.crc32(f"kit-outbox-relay:{service}".encode())


def event_from_row(row: Any) -> CloudEvent:
    """The event an outbox row holds. Not validated again: only ``UnitOfWork`` writes the outbox,
    from events it built and checked."""
    return CloudEvent.model_construct(
        id=row.event_id,
        source=row.source,
        type=row.type,
        subject=row.subject,
        time=row.event_time,
        correlationid=row.correlation_id,
        traceparent=row.traceparent,
        data=row.data,
    )


def plain_dsn(url: str) -> str:
    """asyncpg wants ``postgresql://``, SQLAlchemy ``postgresql+asyncpg://``."""
    return async_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


class OutboxRelay:
    def __init__(self, settings: ServiceSettings, db: Database, producer: AIOKafkaProducer | None = None):
        self.settings = settings
        self.db = db
        self.service = settings.service_name
        self._producer = producer
        self._own_producer = producer is None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._last_cleanup = 0.0

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Run until :meth:`stop`: wait for the lock, then publish; start over on any lost connection."""
        while not self._stopping.is_set():
            try:
                await self._run_with_lock()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay interrupted; retrying", service=self.service, error=str(exc))
                RELAY_ACTIVE.labels(self.service).set(0)
                await self._sleep(2.0)

    async def _run_with_lock(self) -> None:
        dsn = plain_dsn(self.settings.database_url.get_secret_value())
        wait = command_timeout_seconds(self.settings.database_statement_timeout_ms)
        conn: asyncpg.Connection = await asyncpg.connect(dsn, timeout=5, command_timeout=wait)
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", relay_lock_id(self.service)):
                if await self._sleep(2.0):
                    return
            log.info("outbox relay active", service=self.service)
            RELAY_ACTIVE.labels(self.service).set(1)
            await conn.add_listener(OUTBOX_CHANNEL, lambda *_: self._wake.set())
            await self._publish_loop(conn)
        finally:
            RELAY_ACTIVE.labels(self.service).set(0)
            if not conn.is_closed():
                await conn.close(timeout=2)

    async def _publish_loop(self, lock_conn: asyncpg.Connection) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            if lock_conn.is_closed():
                raise ConnectionError("lost the relay lock connection")
            self._wake.clear()
            try:
                await self._ensure_producer()
                sent = await self.publish_batch()
                backoff = 0.5
            except (asyncio.CancelledError, ConnectionError):
                raise
            except Exception as exc:
                log.warning("outbox publish failed; will retry", service=self.service, error=str(exc), backoff=backoff)
                await self._drop_producer()
                if await self._sleep(backoff):
                    return
                backoff = min(backoff * 2, 10.0)
                continue
            await self._cleanup_if_due()
            if sent < self.settings.outbox_batch_size:
                await self._wait_for_work()

    async def publish_batch(self) -> int:
        """Claim up to one batch of unpublished rows, publish them in order, mark them. Returns how many."""
        assert self._producer is not None
        async with self.db.sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(outbox)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self.settings.outbox_batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                # Nothing unpublished: both gauges say so together (the sampler sets them later
                # too, but a scrape in between saw no backlog with the age of one).
                OUTBOX_BACKLOG.labels(self.service).set(0)
                OUTBOX_OLDEST_AGE.labels(self.service).set(0)
                return 0
            futures = []
            for row in rows:
                # Exporting spans: a producer span per event, child of the row's trace (tracing.py).
                event, watch = producer_span(event_from_row(row), row.topic)
                futures.append(
                    await self._producer.send(
                        row.topic,
                        value=event.kafka_value(),
                        key=row.key.encode() if row.key is not None else None,
                        headers=event.kafka_headers(),
                    )
                )
                watch(futures[-1])
            # aiokafka keeps one batch in flight per partition, so the order of send() holds.
            timeout = self.settings.kafka_request_timeout_ms / 1000 + 5
            await asyncio.wait_for(asyncio.gather(*futures), timeout)
            await session.execute(
                update(outbox).where(outbox.c.id.in_([r.id for r in rows])).values(published_at=func.now())
            )
        for row in rows:
            EVENTS_PUBLISHED.labels(self.service, row.topic).inc()
        return len(rows)

    async def _ensure_producer(self) -> None:
        if self._producer is None:
            producer = make_producer(self.settings, client_id=f"{self.service}-relay")
            try:
                await asyncio.wait_for(producer.start(), self.settings.kafka_request_timeout_ms / 1000)
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer

    async def _drop_producer(self) -> None:
        if self._producer is not None and self._own_producer:
            producer, self._producer = self._producer, None
            try:
                await asyncio.wait_for(producer.stop(), 5)
            except Exception as exc:  # closing a broken client must not stop the relay
                log.debug("producer close failed", error=str(exc))

    async def _wait_for_work(self) -> None:
        await wait_or_stop(self._wake, self.settings.outbox_poll_seconds)
        if self._wake.is_set() and self.settings.outbox_gather_ms:
            # Woken by a commit: the commits of the next moment join its batch. Under load a round
            # (claim, send, acks, mark) then carries several requests' events, not one's.
            await self._sleep(self.settings.outbox_gather_ms / 1000)

    async def _sleep(self, seconds: float) -> bool:
        return await wait_or_stop(self._stopping, seconds)

    async def _cleanup_if_due(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last_cleanup < 60:
            return
        self._last_cleanup = now
        deleted = await delete_published_before(
            self.db, timedelta(hours=self.settings.outbox_retention_hours), batch=5000
        )
        if deleted:
            log.info("outbox retention cleanup", service=self.service, deleted=deleted)

    async def close(self) -> None:
        await self._drop_producer()


async def delete_published_before(db: Database, age: timedelta, *, batch: int = 5000) -> int:
    """Delete published outbox rows older than ``age``, in bounded batches."""
    total = 0
    while True:
        async with db.sessions() as session, session.begin():
            ids = select(outbox.c.id).where(outbox.c.published_at < func.now() - age).limit(batch)
            statement = delete(outbox).where(outbox.c.id.in_(ids.scalar_subquery()))
            result = cast(CursorResult[Any], await session.execute(statement))  # a DML statement's result
        total += result.rowcount or 0
        if (result.rowcount or 0) < batch:
            return total


async def replay(db: Database, *, since: datetime, until: datetime | None = None, topic: str | None = None) -> int:
    """Mark events created in ``[since, until)`` (optionally of one topic) unpublished, so the
    relay publishes them again in their original order. Consumers skip what they have seen."""
    conditions = [outbox.c.created_at >= since, outbox.c.published_at.is_not(None)]
    if until is not None:
        conditions.append(outbox.c.created_at < until)
    if topic is not None:
        conditions.append(outbox.c.topic == topic)
    async with db.sessions() as session, session.begin():
        statement = update(outbox).where(and_(*conditions)).values(published_at=None)
        result = cast(CursorResult[Any], await session.execute(statement))  # a DML statement's result
        await session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
    return result.rowcount or 0


async def backlog(db: Database) -> int:
    async with db.sessions() as session:
        return int(
            await session.scalar(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))) or 0
        )
