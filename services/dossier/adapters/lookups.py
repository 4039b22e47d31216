"""The counts of wrong public lookups, per key, kept in the database so that every API process
and replica shares them (``tables.lookup_failures``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kit.db import SqlParams

# One statement for all the request's keys: each counted in its window (a window over starts a
# new one at 1), with the seconds its window has left. Keys in a fixed order: two requests
# counting the same two keys lock them in the same order.
_COUNT = text(
    "INSERT INTO dossier_lookup_failures AS f (key, window_started_at, failures) "
    "SELECT k, now(), 1 FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k "
    "ON CONFLICT (key) DO UPDATE SET "
    "failures = CASE WHEN f.window_started_at <= now() - make_interval(secs => CAST(:window AS float8)) "
    "THEN 1 ELSE f.failures + 1 END, "
    "window_started_at = CASE WHEN f.window_started_at <= now() - make_interval(secs => CAST(:window AS float8)) "
    "THEN now() ELSE f.window_started_at END "
    "RETURNING f.key, f.failures, "
    "EXTRACT(EPOCH FROM f.window_started_at + make_interval(secs => CAST(:window AS float8)) - now()) AS remaining"
)
_UNCOUNT = text(
    "UPDATE dossier_lookup_failures SET failures = failures - 1 WHERE key = ANY(CAST(:keys AS text[])) AND failures > 0"
)
_PURGE = text(
    "DELETE FROM dossier_lookup_failures "
    "WHERE window_started_at <= now() - make_interval(secs => CAST(:window AS float8))"
)


async def count(execute: Any, keys: Sequence[str], window_seconds: float) -> dict[str, tuple[int, float]]:
    """Count one lookup against each key; per key, its count in the window and the seconds the
    window has left. ``execute``: a unit of work's ``execute_alone`` (the count is committed
    whatever the lookup answers)."""
    result = await execute(_COUNT, {"keys": sorted(set(keys)), "window": window_seconds})
    return {row.key: (int(row.failures), float(row.remaining)) for row in result}


async def uncount(session: Any, keys: Sequence[str]) -> None:
    """Take back the count of a lookup that was right."""
    await session.execute(_UNCOUNT, {"keys": sorted(set(keys))})


async def purge(session: Any, window_seconds: float) -> int:
    """Drop the counts whose window is over (a new lookup would start afresh anyway)."""
    return int((await session.execute(_PURGE, {"window": window_seconds})).rowcount or 0)


class SqlLookupCounts:
    """Wrong public lookups counted per key (``service.unit_of_work.LookupCounts``)."""

    def __init__(self, connection: AsyncConnection, execute_alone: Callable[[Any, SqlParams], Awaitable[Any]]):
        self._connection = connection
        self._execute_alone = execute_alone

    async def count(self, keys: Sequence[str], window_seconds: float) -> dict[str, tuple[int, float]]:
        return await count(self._execute_alone, keys, window_seconds)

    async def uncount(self, keys: Sequence[str]) -> None:
        await uncount(self._connection, keys)
