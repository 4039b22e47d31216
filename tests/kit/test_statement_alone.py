"""A unit of work whose whole write is one statement runs it without BEGIN and COMMIT: the
statement is its own transaction, committed when it answers; once the unit has begun a
transaction the statement joins it instead; and the connection goes back to the pool
transactional (the next unit's statements can still be rolled back)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.kit.db import Database
from services.kit.tables import outbox

pytestmark = pytest.mark.integration


def row(event_id: str) -> dict:  # one outbox row
    return {"event_id": event_id, "topic": "t", "key": "k", "type": "a.b.c.v1", "source": "tests", "subject": None,
            "event_time": datetime(2026, 1, 2, tzinfo=UTC), "correlation_id": None, "traceparent": None,
            "data": {"n": 1}}  # fmt: skip


@pytest.fixture
async def db(kit_db_url: str) -> AsyncIterator[Database]:
    database = Database(kit_db_url, source="tests", topic="t", pool_size=1)  # one connection: the same each time
    try:
        yield database
    finally:
        await database.dispose()


async def stored(db: Database) -> list[str]:
    async with db.transaction() as uow:
        return list(await uow.connection.scalars(select(outbox.c.event_id).order_by(outbox.c.id)))


async def test_a_statement_alone_is_committed_when_it_answers(db: Database, kit_db_url: str) -> None:
    async with db.unit_of_work() as uow:
        await uow.execute_alone(outbox.insert(), row("alone"))
        raw = await uow.connection.get_raw_connection()
        assert not raw.driver_connection.is_in_transaction()  # no BEGIN was sent, none is open
        assert await stored_elsewhere(kit_db_url) == ["alone"]  # seen by others before any commit
        await uow.connection.execute(outbox.insert(), row("after"))  # a new transaction ...
        await uow.rollback()  # ... which alone is undone
    assert await stored(db) == ["alone"]

    async with db.unit_of_work() as uow:  # the same pooled connection, transactional again
        await uow.connection.execute(outbox.insert(), row("undone"))
        await uow.rollback()
    assert await stored(db) == ["alone"]


async def test_after_a_read_the_statement_joins_the_units_transaction(db: Database) -> None:
    async with db.unit_of_work() as uow:
        assert await uow.connection.scalar(select(func.count()).select_from(outbox)) == 0
        await uow.execute_alone(outbox.insert(), row("joined"))
        await uow.rollback()
    assert await stored(db) == []


async def test_a_failing_statement_alone_writes_nothing_and_leaves_the_unit_usable(db: Database) -> None:
    async with db.transaction() as uow:
        await uow.connection.execute(outbox.insert(), row("first"))
    async with db.unit_of_work() as uow:
        with pytest.raises(IntegrityError):  # a new event id, then a taken one, in one statement
            await uow.execute_alone(outbox.insert().values([row("new"), row("first")]), {})
        await uow.connection.execute(outbox.insert(), row("then"))  # in a transaction again ...
        await uow.rollback()  # ... so this undoes it
        await uow.connection.execute(outbox.insert(), row("last"))
        await uow.commit()
    assert await stored(db) == ["first", "last"]


async def stored_elsewhere(url: str) -> list[str]:
    other = Database(url, source="tests", topic="t")
    try:
        return await stored(other)
    finally:
        await other.dispose()
