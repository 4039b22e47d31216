"""Bulk inserts: many rows go by COPY, few by INSERT, and both store the same thing (JSON
included, defaults filled, the outbox's wake-up trigger fired); a duplicate fails the whole."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import func, select

from services.kit.db import COPY_MIN_ROWS, Database, insert_rows
from services.kit.tables import OUTBOX_CHANNEL, outbox

pytestmark = pytest.mark.integration


def rows(count: int, prefix: str) -> list[dict]:
    at = datetime(2025, 12, 3, 2, 0, tzinfo=UTC)
    return [{"event_id": f"{prefix}-{i}", "topic": "t", "key": f"k{i}", "type": "a.b.c.v1", "source": "tests",
             "subject": None, "event_time": at, "correlation_id": None, "traceparent": None,
             "data": {"i": i, "text": 'Hồ sơ "đã" nhận', "nested": {"list": [1, None]}}}
            for i in range(count)]  # fmt: skip


@pytest.mark.parametrize("count", [3, COPY_MIN_ROWS, 200])
async def test_rows_are_stored_whole_whichever_way_they_go(kit_db_url: str, count: int) -> None:
    listener = await asyncpg.connect(kit_db_url.replace("+asyncpg", ""))
    woken: list[str] = []
    await listener.add_listener(OUTBOX_CHANNEL, lambda *args: woken.append(args[2]))
    db = Database(kit_db_url, source="tests", topic="t")
    try:
        async with db.transaction() as uow:
            await insert_rows(uow.connection, outbox, rows(count, "e"))
        async with db.transaction() as uow:
            stored = (await uow.connection.execute(select(outbox).order_by(outbox.c.id))).all()
    finally:
        await db.dispose()
    assert [r.event_id for r in stored] == [f"e-{i}" for i in range(count)]
    assert all(r.created_at is not None and r.published_at is None for r in stored)
    assert stored[-1].data == {"i": count - 1, "text": 'Hồ sơ "đã" nhận', "nested": {"list": [1, None]}}
    for _ in range(50):
        if woken:
            break
        await listener.execute("SELECT 1")  # notifications arrive with the next message
    await listener.close()
    assert woken, "the outbox trigger did not wake the relay"


async def test_a_duplicate_fails_the_whole_batch(kit_db_url: str) -> None:
    db = Database(kit_db_url, source="tests", topic="t")
    try:
        batch = rows(100, "d")
        batch[60] = {**batch[60], "event_id": "d-1"}
        with pytest.raises(Exception, match="duplicate key"):
            async with db.transaction() as uow:
                await insert_rows(uow.connection, outbox, batch)
        async with db.transaction() as uow:
            assert await uow.connection.scalar(select(func.count()).select_from(outbox)) == 0
    finally:
        await db.dispose()


async def test_a_copy_first_in_a_unit_of_work_is_rolled_back_with_it(kit_db_url: str) -> None:
    """The adapter begins its transaction lazily; a COPY before any statement must still be in it."""
    db = Database(kit_db_url, source="tests", topic="t")
    try:
        async with db.unit_of_work() as uow:
            await insert_rows(uow.connection, outbox, rows(COPY_MIN_ROWS + 8, "first"))
            await uow.rollback()
        async with db.transaction() as uow:
            assert await uow.connection.scalar(select(func.count()).select_from(outbox)) == 0
    finally:
        await db.dispose()
