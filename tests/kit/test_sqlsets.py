"""Set conditions as arrays: the same statement text for any number of values, and the right rows."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, Table, Text, select
from sqlalchemy.dialects import postgresql

from services.kit.db import make_engine
from services.kit.sqlsets import in_array, pair_in_arrays

things = Table("sqlsets_things", MetaData(), Column("a", Text), Column("b", Text))


def sql(query) -> str:  # type: ignore[no-untyped-def]
    return str(query.compile(dialect=postgresql.asyncpg.dialect()))


def test_the_statement_does_not_grow_with_the_values() -> None:
    one, many = {"x"}, {f"v{i}" for i in range(500)}
    assert sql(select(things).where(in_array(things.c.a, one))) == sql(select(things).where(in_array(things.c.a, many)))
    pairs = {(f"a{i}", f"b{i}") for i in range(500)}
    assert sql(select(things).where(pair_in_arrays(things.c.a, things.c.b, {("a", "b")}))) == sql(
        select(things).where(pair_in_arrays(things.c.a, things.c.b, pairs))
    )


@pytest.mark.integration
async def test_the_conditions_select_exactly_the_rows_named(kit_db_url: str) -> None:
    engine = make_engine(kit_db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(things.metadata.create_all)
            await conn.execute(things.insert(), [{"a": a, "b": b} for a, b in (("1", "x"), ("1", "y"), ("2", "x"))])
            found = (await conn.execute(select(things.c.a, things.c.b).where(in_array(things.c.a, {"1"})))).all()
            assert sorted(found) == [("1", "x"), ("1", "y")]
            named = pair_in_arrays(things.c.a, things.c.b, {("1", "y"), ("2", "x"), ("2", "y")})
            assert sorted((await conn.execute(select(things.c.a, things.c.b).where(named))).all()) == [
                ("1", "y"), ("2", "x")
            ]  # fmt: skip
            assert (await conn.execute(select(things).where(pair_in_arrays(things.c.a, things.c.b, set())))).all() == []
    finally:
        await engine.dispose()
