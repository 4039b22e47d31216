"""The test session's own real servers: a throwaway PostgreSQL cluster and Kafka-protocol
broker on free loopback ports (never the ``make run`` data). Set ``TEST_DATABASE_URL`` /
``TEST_KAFKA_BOOTSTRAP_SERVERS`` to use external ones instead."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from contracts.services import service_names
from deploy.local.components import EmbeddedKafka, EmbeddedPostgres, free_port
from deploy.local.stack import create_database, database_url
from services.kit.migrations import upgrade
from services.kit.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
# Each registered service's fixtures (its database templates, apps, clients), used by its own
# tests and by the end-to-end ones: tests/support/<name>.py.
pytest_plugins = [f"tests.support.{name}" for name in service_names()]
KIT_TEMPLATE = "test_kit_template"


@dataclass
class Infra:
    server_url: str
    bootstrap: str
    postgres: EmbeddedPostgres | None
    kafka: EmbeddedKafka | None
    workdir: Path


# Consumers of the tests' broker are heard from every 2 s and given up after 6 (Kafka's least): the
# local broker holds each group's join for half of it, and a session starts many workers.
os.environ.setdefault("KAFKA_SESSION_TIMEOUT_MS", "6000")

# The throwaway cluster grows to a few GB (a database per test): in memory it makes each test's
# database in a third of the time (about 25 ms instead of 75) and goes in a moment at the end.
MEMORY_DISK = Path("/dev/shm")  # noqa: S108  # only the parent of a private mkdtemp directory
MEMORY_DISK_NEEDED = 8 * 2**30


def _scratch_dir() -> str | None:
    """Where the session's servers keep their data: the memory disk if this machine has one with
    room enough, else the usual temporary directory."""
    if MEMORY_DISK.is_dir() and shutil.disk_usage(MEMORY_DISK).free >= MEMORY_DISK_NEEDED:
        return str(MEMORY_DISK)
    return None


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    workdir = Path(tempfile.mkdtemp(prefix="portal-test-", dir=_scratch_dir()))
    postgres = kafka = None
    server_url = os.environ.get("TEST_DATABASE_URL")
    bootstrap = os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS")
    try:
        if not server_url:
            postgres = EmbeddedPostgres(workdir / "postgres", free_port(), fast=True)
            postgres.start()
            server_url = postgres.url()
        if not bootstrap:
            kafka = EmbeddedKafka(free_port(), log_path=workdir / "kafka.log")
            kafka.start()
            bootstrap = kafka.bootstrap
        asyncio.run(_make_kit_template(server_url))
        yield Infra(server_url, bootstrap, postgres, kafka, workdir)
    finally:
        if kafka:
            kafka.stop()
        if postgres:
            postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def _make_kit_template(server_url: str) -> None:
    """A database holding just the kit's tables (a service's first migration), copied per test."""
    if await create_database(server_url, KIT_TEMPLATE):
        from services.dossier.app import SERVICE

        # Revision 0001 is the kit's tables alone, before any of the dossier's own.
        await asyncio.to_thread(upgrade, SERVICE.migrations, database_url(server_url, KIT_TEMPLATE), "0001")


async def fresh_database(server_url: str, template: str = KIT_TEMPLATE) -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(database_url(server_url, "postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return database_url(server_url, name)


@pytest.fixture
async def kit_db_url(infra: Infra) -> AsyncIterator[str]:
    """A new database with the kit's outbox and inbox, for one test."""
    yield await fresh_database(infra.server_url)


def make_settings(service_name: str, database_url: str, bootstrap: str, **overrides) -> ServiceSettings:  # type: ignore[no-untyped-def]
    """Settings of a made-up service (its own topics), for kit tests."""
    cls = type(f"{service_name.title()}Settings", (ServiceSettings,), {"service_name": service_name})
    values = {"database_url": database_url, "kafka_bootstrap_servers": bootstrap, "outbox_poll_seconds": 0.2,
              "consumer_backoff_seconds": 0.01, "consumer_max_attempts": 3, "log_json": False, **overrides}  # fmt: skip
    return cls(**values)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"
