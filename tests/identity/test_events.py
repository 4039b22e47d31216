"""Every event identity writes to its outbox matches its published contract."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from contracts.registry import EVENT_TYPES
from services.identity.service.fixtures import seed
from services.kit.db import Database
from services.kit.tables import outbox
from tests.support.identity import identity_settings

pytestmark = pytest.mark.integration


async def test_seeding_emits_only_events_that_match_their_contracts(identity_db: Database, infra) -> None:
    settings = identity_settings(str(identity_db.engine.url.render_as_string(False)), infra.bootstrap)
    await seed(identity_db, settings)
    async with identity_db.sessions() as session:
        rows = (await session.execute(select(outbox.c.type, outbox.c.data))).all()
    types = {row.type for row in rows}
    assert {"identity.account.registered.v1", "identity.client.created.v1"} <= types
    for row in rows:
        EVENT_TYPES[row.type].model_validate(row.data)
