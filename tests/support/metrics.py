"""Reading Prometheus metrics as a scraper does (``/metrics`` over HTTP, the text format parsed by
prometheus_client's parser), and a service's worker running with its own HTTP port."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager

import httpx
from prometheus_client.parser import text_string_to_metric_families

from deploy.local.components import free_port
from services.kit.app import ServiceSpec
from services.kit.db import Database
from services.kit.health import WorkerHealthServer, metrics_server
from services.kit.settings import ServiceSettings
from services.kit.worker import PARTS, Worker


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of sample ``name`` (``..._total`` for counters) with these labels, or None."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return None


def samples(text: str, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    return [
        (dict(found.labels), float(found.value))
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == name and all(found.labels.get(k) == v for k, v in labels.items())
    ]


@functools.cache
def api_metrics_url() -> str:
    """The internal metrics port of the APIs under test, as ``api --metrics-port`` serves it (their
    public ports answer 404): they run in this test process, so one such server shows theirs."""
    server = metrics_server("127.0.0.1", 0, "tests-api").start()
    return f"http://127.0.0.1:{server.port}"


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(f"{url}/metrics")
    assert answer.status_code == 200
    return answer.text


async def wait_metrics(url: str, condition: Callable[[str], bool], timeout: float = 30.0) -> str:
    """Scrape ``url`` until ``condition`` holds for what it exports; the last scrape either way."""
    deadline = time.monotonic() + timeout
    while True:
        text = await scrape(url)
        if condition(text) or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.2)


@asynccontextmanager
async def running_worker(
    spec: ServiceSpec, settings: ServiceSettings, parts: Collection[str] = PARTS
) -> AsyncIterator[tuple[Worker, str]]:
    """The service's worker on this loop with its HTTP port (``/metrics``, ``/healthz``,
    ``/readyz``) as ``worker --metrics-port`` serves it; yields the worker and the port's URL."""
    db = Database(settings.database_url.get_secret_value(), source=spec.name, topic=settings.topic,
                  unit_of_work=spec.unit_of_work)  # fmt: skip
    worker = Worker(spec, settings, db, parts)
    loop = asyncio.get_running_loop()
    port = free_port()
    health = WorkerHealthServer("127.0.0.1", port, f"{spec.name}-worker", worker.alive, lambda: worker.ready(loop))
    health.start()
    task = asyncio.create_task(worker.run())
    try:
        yield worker, f"http://127.0.0.1:{port}"
    finally:
        worker.stop()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(health.stop)
        await db.dispose()
