"""The group commit: each row committed before its writer is answered, a batch's failure told
to each of its writers, the waiting rows bounded; and the map of recent reads."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Column, MetaData, Table, Text, func, select, text

from services.kit.batching import GroupInsert, Recent
from services.kit.db import make_engine
from services.kit.errors import ServiceUnavailable

records = Table("batching_records", MetaData(), Column("id", Text, primary_key=True))


@pytest.mark.integration
async def test_rows_written_at_once_are_committed_together_before_each_is_answered(kit_db_url: str) -> None:
    engine = make_engine(kit_db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(records.metadata.create_all)
        group = GroupInsert(engine, records, max_batch=40)

        async def write(i: int) -> int:
            await group.add({"id": f"r{i}"})
            # Answered: committed, so another connection sees it.
            async with engine.connect() as other:
                return int(await other.scalar(select(func.count()).where(records.c.id == f"r{i}")) or 0)

        seen = await asyncio.gather(*(write(i) for i in range(100)))
        assert seen == [1] * 100
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(records)) == 100
            # The rows went in batches of at most 40, a transaction each (the rows a transaction
            # wrote share its id, xmin), not one transaction a row.
            batches = await conn.scalar(text("SELECT count(DISTINCT xmin::text) FROM batching_records"))
        assert batches is not None and 3 <= batches < 100
    finally:
        await engine.dispose()


@pytest.mark.integration
async def test_a_failed_batch_fails_each_of_its_writers_and_keeps_none(kit_db_url: str) -> None:
    engine = make_engine(kit_db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(records.metadata.create_all)
        group = GroupInsert(engine, records)
        await group.add({"id": "taken"})
        outcomes = await asyncio.gather(group.add({"id": "new"}), group.add({"id": "taken"}), return_exceptions=True)
        assert all(isinstance(o, Exception) for o in outcomes)  # the duplicate spoils its batch, atomically
        async with engine.connect() as conn:
            assert (await conn.execute(select(records.c.id))).scalars().all() == ["taken"]
        await group.add({"id": "later"})  # the next batch is written as usual
    finally:
        await engine.dispose()


async def test_rows_waiting_beyond_the_limit_are_refused_with_503() -> None:
    group = GroupInsert(make_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none"), records, max_waiting=2)
    group._waiting = [({"id": "a"}, asyncio.get_running_loop().create_future())] * 2  # two already waiting
    with pytest.raises(ServiceUnavailable):
        await group.add({"id": "c"})


def test_recent_reads_expire_and_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("services.kit.batching.time.monotonic", lambda: clock[0])
    recent: Recent[str, int] = Recent(seconds=5, size=2)
    recent.put("a", 1)
    assert recent.get("a") == (True, 1)
    clock[0] += 5.1
    assert recent.get("a") == (False, None)
    recent.put("a", 1)
    recent.put("b", 2)
    recent.put("c", 3)  # the oldest goes
    assert recent.get("a") == (False, None)
    assert recent.get("c") == (True, 3)
    recent.drop("c")
    assert recent.get("c") == (False, None)
