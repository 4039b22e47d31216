"""The identity service on its own migrated database, served on real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from deploy.local.stack import create_database, database_url
from services.identity.app import SERVICE, create_app
from services.identity.settings import IdentitySettings
from services.kit.db import Database
from services.kit.migrations import upgrade
from tests.support.servers import serve

IDENTITY_TEMPLATE = "test_identity_template"
# argon2id at its cheapest, for the tests that are not about hashing (the production costs take
# about 0.2 s a hash on two cores; tests/identity/unit/test_passwords.py keeps them checked).
FAST_HASHING = {"password_hash_time_cost": 1, "password_hash_memory_kib": 1024, "password_hash_parallelism": 1}


@pytest.fixture(scope="session")
def identity_template(infra) -> str:  # type: ignore[no-untyped-def]
    async def make() -> None:
        if await create_database(infra.server_url, IDENTITY_TEMPLATE):
            await asyncio.to_thread(upgrade, SERVICE.migrations, database_url(infra.server_url, IDENTITY_TEMPLATE))

    asyncio.run(make())
    return IDENTITY_TEMPLATE


def identity_database(url: str) -> Database:
    """The identity database as the service opens it: its units carry the identity repositories."""
    return Database(url, source="identity", topic="identity.events", unit_of_work=SERVICE.unit_of_work)


def identity_settings(db_url: str, bootstrap: str, **overrides) -> IdentitySettings:  # type: ignore[no-untyped-def]
    """The service's settings for a test; hashing at :data:`FAST_HASHING` unless ``overrides`` say."""
    values = {"database_url": db_url, "kafka_bootstrap_servers": bootstrap, "environment": "test", "log_json": False,
              **FAST_HASHING}  # fmt: skip
    return IdentitySettings(**{**values, **overrides})


@pytest.fixture
async def identity_db_url(infra, identity_template) -> str:  # type: ignore[no-untyped-def]
    """A fresh, migrated identity database for one test."""
    from tests.conftest import fresh_database

    return await fresh_database(infra.server_url, identity_template)


@pytest.fixture
async def identity_db(identity_db_url: str) -> AsyncIterator[Database]:
    db = identity_database(identity_db_url)
    yield db
    await db.dispose()


@pytest.fixture
def identity_server(identity_db_url, infra) -> Iterator[tuple[str, IdentitySettings]]:  # type: ignore[no-untyped-def]
    """The identity API on real HTTP over a fresh database; yields (base URL, settings)."""
    settings = identity_settings(identity_db_url, infra.bootstrap)
    with serve(create_app(settings)) as url:
        yield url, settings


def seed_identity(db_url: str, settings: IdentitySettings) -> None:
    """Load the development fixtures (demo clients and accounts) into ``db_url``."""
    from services.identity.api.jobs import seed_fixtures

    async def run() -> None:
        db = identity_database(db_url)
        try:
            await seed_fixtures(db, settings)
        finally:
            await db.dispose()

    asyncio.run(run())
