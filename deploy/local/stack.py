"""Preparing a PostgreSQL server and a broker for the portal: one database per service,
migrations, development fixtures, topics. Used by ``make run`` and by the test session."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from services.kit.app import ServiceSpec
from services.kit.kafka import SERVICE_NAMES, ensure_topics, platform_topics
from services.kit.migrations import upgrade
from services.kit.settings import KafkaSettings


def load_spec(name: str) -> ServiceSpec:
    spec: ServiceSpec = importlib.import_module(f"services.{name}.app").SERVICE
    return spec


def database_url(server_url: str, database: str) -> str:
    """The URL of ``database`` on the server that ``server_url`` points at."""
    parts = urlsplit(server_url)
    scheme = "postgresql" if parts.scheme.startswith("postgres") else parts.scheme
    return urlunsplit((scheme, parts.netloc, "/" + database, parts.query, ""))


def database_name(service: str, prefix: str = "portal") -> str:
    return f"{prefix}_{service}"


async def create_database(server_url: str, name: str) -> bool:
    """Create ``name`` unless it exists. True when created."""
    conn = await asyncpg.connect(database_url(server_url, "postgres"), timeout=10)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()


async def prepare_databases(
    server_url: str, *, prefix: str = "portal", services: Iterable[str] = SERVICE_NAMES
) -> dict[str, str]:
    """Create and migrate each service's database; returns service -> database URL."""
    urls: dict[str, str] = {}
    for name in services:
        db = database_name(name, prefix)
        await create_database(server_url, db)
        urls[name] = database_url(server_url, db)
        # Alembic's env runs its own event loop, so it runs in a thread.
        await asyncio.to_thread(upgrade, load_spec(name).migrations, urls[name])
    return urls


async def prepare_topics(bootstrap: str, partitions: int = 6) -> None:
    settings = KafkaSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_partitions=partitions)
    await ensure_topics(settings, platform_topics())
