"""A service's background process: its outbox relay and its consumers, until SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import zlib
from datetime import timedelta

from prometheus_client import start_http_server
from sqlalchemy import delete, func, text

from .aio import wait_or_stop
from .app import PeriodicJob, ServiceSpec
from .consumer import ConsumerRunner
from .db import Database
from .logging import configure_logging, get_logger
from .outbox import OutboxRelay
from .settings import ServiceSettings
from .tables import inbox

log = get_logger(__name__)


class Worker:
    def __init__(self, spec: ServiceSpec, settings: ServiceSettings, db: Database):
        self.spec = spec
        self.settings = settings
        self.db = db
        self.relay = OutboxRelay(settings, db)
        self.consumers = [
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
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.relay.stop()
        for consumer in self.consumers:
            consumer.stop()

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.relay.run(), name="relay")]
        tasks += [asyncio.create_task(c.run(), name=c.group_id) for c in self.consumers]
        tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        tasks += [asyncio.create_task(self._periodic(job), name=job.name) for job in self.spec.periodic]
        try:
            await self._stopping.wait()
            _, pending = await asyncio.wait(tasks, timeout=8)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            await self.relay.close()

    async def _periodic(self, job: PeriodicJob) -> None:
        """Run ``job`` every ``every_seconds``; one worker at a time across replicas."""
        lock = zlib.crc32(f"periodic:{self.spec.name}:{job.name}".encode())
        while not self._stopping.is_set():
            try:
                async with self.db.engine.connect() as conn:
                    got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock})
                    if got:
                        try:
                            await job.run(self.db, self.settings)
                        finally:
                            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock})
            except Exception as exc:
                log.warning("periodic job failed", job=job.name, error=str(exc))
            await wait_or_stop(self._stopping, job.every_seconds)

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


async def run_worker(spec: ServiceSpec, settings: ServiceSettings, metrics_port: int | None = None) -> None:
    configure_logging(f"{spec.name}-worker", settings.log_level, settings.log_json)
    if metrics_port:
        start_http_server(metrics_port, addr=settings.host)
    db = Database(
        settings.database_url.get_secret_value(),
        source=spec.name,
        topic=settings.topic,
        pool_size=max(2, len(spec.consumers) + 2),
        statement_timeout_ms=settings.database_statement_timeout_ms,
    )
    worker = Worker(spec, settings, db)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    log.info("worker started", consumers=[c.group_id for c in worker.consumers])
    try:
        await worker.run()
    finally:
        await db.dispose()
        log.info("worker stopped")
