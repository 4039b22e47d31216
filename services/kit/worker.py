"""A service's background process, until SIGTERM: its outbox relay (``relay``), its consumer
groups (``consumers``) and its periodic jobs (``jobs``) — all three unless ``parts`` names
fewer (``worker --only relay``), so that each can be run and scaled apart.

With each part go its samplers (``metrics``): the relay's outbox backlog and age, the consumers'
lag and the inbox clean-up. A heartbeat task always runs: the worker's ``/healthz``
(``worker --metrics-port``) fails once it stops beating, i.e. when the event loop is blocked.
"""

from __future__ import annotations

import asyncio
import signal
import time
import zlib
from collections.abc import Collection
from datetime import timedelta

from sqlalchemy import delete, func, text

from .aio import wait_or_stop
from .app import PeriodicJob, ServiceSpec
from .consumer import ConsumerRunner
from .db import Database
from .health import WorkerCheckDetails, WorkerHealthServer
from .heap import settle_heap
from .logging import configure_logging, get_logger
from .metrics import LOOP_DELAY, LagSampler, sample_outbox
from .outbox import OutboxRelay
from .settings import ServiceSettings
from .tables import inbox
from .tracing import configure as configure_tracing
from .tracing import flush as flush_spans

log = get_logger(__name__)

PARTS = ("relay", "consumers", "jobs")
HEARTBEAT_SECONDS = 1.0


class Worker:
    def __init__(self, spec: ServiceSpec, settings: ServiceSettings, db: Database, parts: Collection[str] = PARTS):
        unknown = set(parts) - set(PARTS)
        if unknown or not parts:
            raise ValueError(f"worker parts are {', '.join(PARTS)}; not {sorted(unknown) or 'none'}")
        self.spec = spec
        self.settings = settings
        self.db = db
        self.parts = frozenset(parts)
        self.relay = OutboxRelay(settings, db) if "relay" in self.parts else None
        self.consumers = (
            [
                ConsumerRunner(
                    settings,
                    db,
                    name=c.name,
                    topics=c.topics,
                    handlers=c.handlers_for(settings),
                    batch_handlers=c.batch_handlers_for(settings),
                )
                for c in spec.consumers
            ]
            if "consumers" in self.parts
            else []
        )
        self.jobs = list(spec.periodic) if "jobs" in self.parts else []
        self.heartbeat_at = time.monotonic()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        if self.relay is not None:
            self.relay.stop()
        for consumer in self.consumers:
            consumer.stop()

    async def run(self) -> None:
        settle_heap()
        tasks = [asyncio.create_task(self._heartbeat(), name="heartbeat")]
        if self.relay is not None:
            tasks.append(asyncio.create_task(self.relay.run(), name="relay"))
            tasks.append(asyncio.create_task(self._sample_outbox(), name="outbox-sampler"))
        if self.consumers:
            tasks += [asyncio.create_task(c.run(), name=c.group_id) for c in self.consumers]
            tasks += [asyncio.create_task(self._sample_lag(c), name=f"{c.group_id}-lag") for c in self.consumers]
            tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        tasks += [asyncio.create_task(self._periodic(job), name=job.name) for job in self.jobs]
        try:
            await self._stopping.wait()
            _, pending = await asyncio.wait(tasks, timeout=8)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            if self.relay is not None:
                await self.relay.close()

    # --- health ----------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        """Beat once a second; how late a beat comes is the loop's delay."""
        while not self._stopping.is_set():
            before = time.monotonic()
            await wait_or_stop(self._stopping, HEARTBEAT_SECONDS)
            now = time.monotonic()
            LOOP_DELAY.labels(self.spec.name).set(max(0.0, now - before - HEARTBEAT_SECONDS))
            self.heartbeat_at = now

    def alive(self) -> tuple[bool, WorkerCheckDetails]:
        """For ``/healthz`` (another thread): the loop beat within ``worker_liveness_seconds``."""
        age = time.monotonic() - self.heartbeat_at
        return age < self.settings.worker_liveness_seconds, {"heartbeat_age_seconds": round(age, 3),
                                                              "parts": sorted(self.parts)}  # fmt: skip

    def ready(self, loop: asyncio.AbstractEventLoop, timeout: float = 3.0) -> tuple[bool, WorkerCheckDetails]:
        """For ``/readyz`` (another thread): the database answers, asked from the worker's loop."""
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(self.db.ping(), timeout), loop)
        try:
            future.result(timeout + 0.5)
            ok = True
        except Exception:  # unreachable, or the loop too busy to ask: not ready
            future.cancel()
            ok = False
        return ok, {"checks": {"database": ok}}

    # --- samplers and housekeeping ---------------------------------------------------------

    async def _sample_outbox(self) -> None:
        while not self._stopping.is_set():
            try:
                await sample_outbox(self.db, self.spec.name)
            except Exception as exc:
                log.warning("outbox sample failed", error=str(exc))
            await wait_or_stop(self._stopping, self.settings.metrics_sample_seconds)

    async def _sample_lag(self, consumer: ConsumerRunner) -> None:
        sampler = LagSampler(consumer.group_id)
        try:
            while not self._stopping.is_set():
                try:
                    await sampler.sample(consumer.kafka_consumer)
                except Exception as exc:  # the broker is away: the consumer itself reconnects
                    log.debug("lag sample failed", consumer=consumer.group_id, error=str(exc))
                    sampler.forget()
                await wait_or_stop(self._stopping, self.settings.metrics_sample_seconds)
        finally:
            sampler.forget()

    async def _periodic(self, job: PeriodicJob) -> None:
        """Run ``job`` every ``every_seconds``; one worker at a time across replicas, unless the
        job is not ``exclusive``."""
        lock = zlib.crc32(f"periodic:{self.spec.name}:{job.name}".encode())
        every = job.every_seconds(self.settings) if callable(job.every_seconds) else job.every_seconds
        while not self._stopping.is_set():
            try:
                if not job.exclusive:
                    await job.run(self.db, self.settings)
                    await wait_or_stop(self._stopping, every)
                    continue
                async with self.db.engine.connect() as conn:
                    got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock})
                    if got:
                        try:
                            await job.run(self.db, self.settings)
                        finally:
                            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock})
            except Exception as exc:
                log.warning("periodic job failed", job=job.name, error=str(exc))
            await wait_or_stop(self._stopping, every)

    async def _housekeeping(self) -> None:
        """Forget inbox rows older than their retention, once an hour."""
        while not self._stopping.is_set():
            try:
                async with self.db.sessions() as session, session.begin():
                    age = timedelta(hours=self.settings.inbox_retention_hours)
                    await session.execute(delete(inbox).where(inbox.c.processed_at < func.now() - age))
            except Exception as exc:
                log.warning("inbox cleanup failed", error=str(exc))
            await wait_or_stop(self._stopping, 3600)


async def run_worker(
    spec: ServiceSpec, settings: ServiceSettings, metrics_port: int | None = None, parts: Collection[str] = PARTS
) -> None:
    configure_logging(f"{spec.name}-worker", settings.log_level, settings.log_json)
    configure_tracing(f"{spec.name}-worker", settings.otlp_endpoint)
    db = Database(
        settings.database_url.get_secret_value(),
        source=spec.name,
        topic=settings.topic,
        pool_size=max(2, len(spec.consumers) + 2),
        max_overflow=max(2, len(spec.consumers) + 2),  # jobs, replays and retries come on top at times
        statement_timeout_ms=settings.database_statement_timeout_ms,
        unit_of_work=spec.unit_of_work,
    )
    worker = Worker(spec, settings, db, parts)
    loop = asyncio.get_running_loop()
    health = None
    if metrics_port:
        health = WorkerHealthServer(settings.host, metrics_port, f"{spec.name}-worker", worker.alive,
                                    lambda: worker.ready(loop)).start()  # fmt: skip
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    log.info("worker started", parts=sorted(worker.parts), consumers=[c.group_id for c in worker.consumers],
             jobs=[j.name for j in worker.jobs])  # fmt: skip
    try:
        await worker.run()
    finally:
        if health is not None:
            health.stop()
        await db.dispose()
        flush_spans()
        log.info("worker stopped")
