"""Migration 0009 on a database migrated before it and on a new one (0003 already creates the
OAuth tables from the current model): both end with the clients' PAR/DPoP/FAPI flags, the
``dpop_jkt`` columns and the two new tables, and going back removes them."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from services.identity.app import SERVICE
from services.kit.migrations import downgrade, upgrade
from tests.support.identity import identity_database

pytestmark = pytest.mark.integration

WHAT_0009_ADDS = text(
    "SELECT (SELECT count(*) FROM information_schema.columns WHERE (table_name, column_name) IN ("
    "('oauth_clients', 'require_pushed_authorization_requests'), ('oauth_clients', 'dpop_bound_access_tokens'),"
    "('oauth_clients', 'fapi2'), ('authorization_codes', 'dpop_jkt'), ('refresh_tokens', 'dpop_jkt')))"
    " + (SELECT count(*) FROM information_schema.tables"
    " WHERE table_name IN ('pushed_authorization_requests', 'dpop_proof_jtis'))"
)


async def _found(url: str) -> int:
    db = identity_database(url)
    try:
        async with db.sessions() as session:
            return int(await session.scalar(WHAT_0009_ADDS) or 0)
    finally:
        await db.dispose()


async def test_0009_adds_its_columns_and_tables_whatever_the_database(identity_db_url: str) -> None:
    assert await _found(identity_db_url) == 7  # a new database, migrated to the head
    await asyncio.to_thread(downgrade, SERVICE.migrations, identity_db_url, "0008")
    assert await _found(identity_db_url) == 0  # as a database migrated before 0009 was
    await asyncio.to_thread(upgrade, SERVICE.migrations, identity_db_url)
    assert await _found(identity_db_url) == 7
