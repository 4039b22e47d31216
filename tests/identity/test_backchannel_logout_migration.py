"""Migration 0010 on a database migrated before it (no logout URIs, no sids, no logout tables)
and on a new one (migration 0003 already creates the OIDC tables from the current model): both
end with the columns and tables, and going back removes them."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from services.identity.app import SERVICE
from services.kit.migrations import downgrade, upgrade
from tests.support.identity import identity_database

pytestmark = pytest.mark.integration

COLUMNS = text(
    "SELECT count(*) FROM information_schema.columns WHERE (table_name, column_name) IN "
    "(('oauth_clients', 'backchannel_logout_uri'), ('oauth_clients', 'backchannel_logout_session_required'), "
    "('browser_sessions', 'sid'), ('authorization_codes', 'sid'), ('refresh_tokens', 'sid'))"
)
TABLES = text(
    "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('session_clients', 'backchannel_logouts')"
)


async def _counts(url: str) -> tuple[int, int]:
    db = identity_database(url)
    try:
        async with db.sessions() as session:
            return int(await session.scalar(COLUMNS) or 0), int(await session.scalar(TABLES) or 0)
    finally:
        await db.dispose()


async def test_back_channel_logout_storage_comes_with_0010_whatever_the_database(identity_db_url: str) -> None:
    assert await _counts(identity_db_url) == (5, 2)  # a new database, migrated to the head
    await asyncio.to_thread(downgrade, SERVICE.migrations, identity_db_url, "0009")
    assert await _counts(identity_db_url) == (0, 0)  # as a database migrated before 0010 was
    await asyncio.to_thread(upgrade, SERVICE.migrations, identity_db_url)
    assert await _counts(identity_db_url) == (5, 2)
