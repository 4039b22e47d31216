"""Migration 0006 on a database migrated before it (the accounts table without ``deleted_at``)
and on a new one (migration 0002 already creates the table from the current model): both end
with the column, and going back removes it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from services.identity.app import SERVICE
from services.kit.migrations import downgrade, upgrade
from tests.support.identity import identity_database

pytestmark = pytest.mark.integration

COLUMN = text(
    "SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'deleted_at'"
)


async def _has_column(url: str) -> bool:
    db = identity_database(url)
    try:
        async with db.sessions() as session:
            return bool(await session.scalar(COLUMN))
    finally:
        await db.dispose()


async def test_the_deleted_at_column_comes_with_0006_whatever_the_database(identity_db_url: str) -> None:
    assert await _has_column(identity_db_url)  # a new database, migrated to the head
    await asyncio.to_thread(downgrade, SERVICE.migrations, identity_db_url, "0005")
    assert not await _has_column(identity_db_url)  # as a database migrated before 0006 was
    await asyncio.to_thread(upgrade, SERVICE.migrations, identity_db_url)
    assert await _has_column(identity_db_url)
