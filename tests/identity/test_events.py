"""Every event identity writes to its outbox matches its published contract."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from contracts.events.identity_accounts import AccountRegistered
from contracts.events.identity_oidc import ClientCreated
from contracts.registry import EVENT_TYPES
from services.identity.api.jobs import seed_fixtures
from services.kit.db import Database
from services.kit.tables import outbox
from tests.support.identity import identity_settings

pytestmark = pytest.mark.integration


async def test_seeding_emits_only_events_that_match_their_contracts(identity_db: Database, infra) -> None:
    settings = identity_settings(str(identity_db.engine.url.render_as_string(False)), infra.bootstrap)
    await seed_fixtures(identity_db, settings)
    async with identity_db.sessions() as session:
        rows = (await session.execute(select(outbox.c.type, outbox.c.data))).all()
    types = {row.type for row in rows}
    assert {AccountRegistered.TYPE, ClientCreated.TYPE} <= types
    for row in rows:
        EVENT_TYPES[row.type].model_validate(row.data)
