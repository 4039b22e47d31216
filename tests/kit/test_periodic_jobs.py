"""Periodic jobs across several workers, on the real PostgreSQL: an exclusive job runs in one
worker at a time (an advisory lock); one that shares its work out itself runs in all at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from services.kit.app import PeriodicJob, ServiceSpec
from services.kit.db import Database
from services.kit.settings import ServiceSettings
from services.kit.worker import Worker
from tests.conftest import make_settings, unique

pytestmark = pytest.mark.integration


class Overlap:
    """How many runs of a job are in progress at once, at most."""

    def __init__(self) -> None:
        self.now = self.most = self.runs = 0

    async def run(self, _db: Database, _settings: Any) -> None:
        self.now += 1
        self.runs += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.3)
        finally:
            self.now -= 1


@pytest.mark.parametrize(("exclusive", "most"), [(True, 1), (False, 2)])
async def test_an_exclusive_job_runs_in_one_worker_at_a_time_and_a_shared_one_in_all(
    kit_db_url: str, infra: Any, exclusive: bool, most: int
) -> None:
    overlap = Overlap()
    name = unique("jobs")
    settings: ServiceSettings = make_settings(name, kit_db_url, infra.bootstrap)
    spec = ServiceSpec(name=name, title="Jobs", settings_cls=type(settings), migrations=Path("."),
                       periodic=[PeriodicJob("work", 0.05, overlap.run, exclusive=exclusive)])  # fmt: skip
    databases = [Database(kit_db_url, source="tests", topic="unused") for _ in range(2)]
    workers = [Worker(spec, settings, db, parts=("jobs",)) for db in databases]
    running = [asyncio.create_task(w.run()) for w in workers]
    try:
        await asyncio.sleep(1.5)
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.gather(*running)
        for db in databases:
            await db.dispose()
    assert overlap.most == most and overlap.runs >= 3
