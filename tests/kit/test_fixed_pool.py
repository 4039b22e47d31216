"""A service's pool is fixed: past its size a unit of work waits for a pooled connection rather
than opening one more (a connection opened for a burst and closed after costs PostgreSQL a
backend start and the driver's type introspection; under steady load it churned)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from services.kit.db import Database

pytestmark = pytest.mark.integration


async def test_past_its_size_the_pool_waits_for_a_connection_and_opens_none(kit_db_url: str) -> None:
    db = Database(kit_db_url, source="tests", topic="t", pool_size=1)
    try:
        async with db.unit_of_work() as first:
            held = await first.connection.scalar(text("SELECT pg_backend_pid()"))

            async def second() -> int:
                async with db.unit_of_work() as uow:
                    return int(await uow.connection.scalar(text("SELECT pg_backend_pid()")))

            waiting = asyncio.create_task(second())
            await asyncio.sleep(0.5)
            assert not waiting.done()  # no second connection was opened for it
        assert await asyncio.wait_for(waiting, 10) == held  # it got the same one, once returned
        assert db.engine.pool.checkedout() == 0
    finally:
        await db.dispose()
