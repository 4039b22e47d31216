"""Rows many requests write, committed together: a group commit.

A request that must leave a record (an issued token's jti) but needs no transaction of its own
hands the row to :class:`GroupInsert` and waits until the row is committed; the rows of the
requests waiting at the same time go in one ``INSERT`` (executemany) in one transaction. Nothing
is acknowledged before it is durable — a failed batch fails each of its requests — but a
thousand requests a second cost a few transactions a second instead of a thousand.

And :class:`Recent`, what was read lately: a bounded map whose entries expire.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from .errors import ServiceUnavailable

K = TypeVar("K")
V = TypeVar("V")

#: Rows in one statement, and rows waiting at most (beyond: 503, the database is not keeping up).
MAX_BATCH = 500
MAX_WAITING = 20_000


class GroupInsert:
    """Inserts into ``table`` in batches; :meth:`add` returns once its row is committed."""

    def __init__(self, engine: AsyncEngine, table: Table, *, max_batch: int = MAX_BATCH,
                 max_waiting: int = MAX_WAITING):  # fmt: skip
        self._engine = engine
        # The driver's own statement (asyncpg), bypassing SQLAlchemy: the rows are plain values.
        self._columns = [column.name for column in table.columns]
        names = ", ".join(f'"{name}"' for name in self._columns)
        marks = ", ".join(f"${i}" for i in range(1, len(self._columns) + 1))
        self._sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
        self.max_batch, self.max_waiting = max_batch, max_waiting
        self._waiting: list[tuple[Mapping[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, row: Mapping[str, Any]) -> None:
        if len(self._waiting) >= self.max_waiting:
            raise ServiceUnavailable("Too many records are waiting to be written; try again shortly.")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        # Shielded: a caller that gives up does not cancel the batch its row is in.
        await asyncio.shield(done)

    async def _write(self) -> None:
        # One batch at a time: the rows that arrive while one commits make the next.
        while self._waiting:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            try:
                # One round trip: no BEGIN or COMMIT, the driver's executemany is atomic on its own
                # (its statements end in one Sync, PostgreSQL's implicit transaction). Every column
                # of the table is given (a row's missing one is an error, not a silent NULL).
                async with self._engine.connect() as connection:
                    driver = (await connection.get_raw_connection()).driver_connection
                    assert driver is not None
                    await driver.executemany(self._sql, [[row[c] for c in self._columns] for row, _ in batch])
            except BaseException as exc:  # each waiting request fails with it; none is told it was kept
                stopped = not isinstance(exc, Exception)  # cancelled: the process is stopping
                if stopped:
                    batch, self._waiting = batch + self._waiting, []
                for _, done in batch:
                    if not done.done():
                        done.set_exception(ServiceUnavailable("The record was not written.") if stopped else exc)
                if stopped:
                    raise
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)


class Recent(Generic[K, V]):
    """Values read lately, each kept ``seconds`` after it was put, at most ``size`` of them (the
    oldest go first)."""

    def __init__(self, seconds: float, size: int = 1024):
        self.seconds, self.size = seconds, size
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> tuple[bool, V | None]:
        """(True, value) while the entry is fresh; (False, None) otherwise."""
        found = self._entries.get(key)
        if found is None or time.monotonic() - found[0] > self.seconds:
            return False, None
        return True, found[1]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (time.monotonic(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def drop(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
