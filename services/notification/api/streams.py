"""Live inbox streams (Server-Sent Events): a person's open apps learn of a new item, or of items
read elsewhere, as it happens.

One LISTEN connection per API process hears PostgreSQL's ``NOTIFY`` that a notice's transaction
sends on commit (``SqlInbox.signal``: the payload is the account id, no content), and wakes that
person's streams. Each stream then reads the new items through a short unit of work of its own
(no connection is held while a stream waits) and sends them. A stream also checks every
heartbeat (a comment line, which keeps proxies from closing an idle stream), so a notification
lost while the LISTEN connection was down delays an item by one heartbeat at most.

Limits: ``streams_per_account`` per person and ``streams_total`` per process (429 beyond).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import orjson

from services.kit.db import Database
from services.kit.errors import RateLimited
from services.kit.logging import get_logger
from services.kit.outbox import plain_dsn

from ..adapters.repository import INBOX_CHANNEL
from ..service.unit_of_work import InboxItem, notification_unit
from .schemas import InboxItemPublic

log = get_logger(__name__)

#: Items sent at most per wake (older ones are in the inbox list).
BATCH = 20


class InboxStreams:
    def __init__(self, database_url: str, per_account: int, total: int) -> None:
        self._dsn = plain_dsn(database_url)
        self.per_account, self.total = per_account, total
        self._waiting: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._count = 0
        self._listener: asyncio.Task[None] | None = None

    def _wake(self, _conn: object, _pid: int, _channel: str, account_id: str) -> None:
        for event in self._waiting.get(account_id, ()):
            event.set()

    async def _listen(self) -> None:
        while True:
            try:
                conn: asyncpg.Connection = await asyncpg.connect(self._dsn, timeout=5)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, ended=lost: ended.set())
                try:
                    await conn.add_listener(INBOX_CHANNEL, self._wake)
                    await lost.wait()
                finally:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: streams fall back to their heartbeat checks
                log.warning("inbox listener interrupted; retrying", error=type(exc).__name__)
                await asyncio.sleep(2)

    def open(self, account_id: str) -> asyncio.Event:
        """A wake-up for one new stream of ``account_id``; refused beyond the limits."""
        if self._count >= self.total:
            raise RateLimited(30, "Too many live streams are open; try again shortly.")
        if len(self._waiting.get(account_id, ())) >= self.per_account:
            raise RateLimited(30, f"At most {self.per_account} live streams per person.")
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen())
        event = asyncio.Event()
        self._waiting[account_id].add(event)
        self._count += 1
        return event

    def close(self, account_id: str, event: asyncio.Event) -> None:
        waiting = self._waiting.get(account_id)
        if waiting is not None and event in waiting:
            waiting.discard(event)
            self._count -= 1
            if not waiting:
                del self._waiting[account_id]

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener


def _frame(event: str, data: object, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


async def _since(db: Database, account_id: str, seen: tuple[datetime, str] | None) -> tuple[list[InboxItem], int]:
    """Items newer than ``seen`` (oldest first), and the unread count."""
    async with db.unit_of_work() as unit:
        uow = notification_unit(unit)
        newest = await uow.inbox.page(account_id, None, BATCH, False)
        unread = await uow.inbox.unread(account_id)
    fresh = [i for i in newest if seen is None or (i.created_at, i.id) > seen]
    return list(reversed(fresh)), unread


async def stream(streams: InboxStreams, db: Database, account_id: str, heartbeat: float,
                 ) -> AsyncIterator[bytes]:  # fmt: skip
    """The frames of one stream: ``unread`` at once and whenever it changes, ``item`` for each new
    item (its id as the event id), a comment every ``heartbeat`` seconds."""
    wake = streams.open(account_id)
    try:
        items, unread = await _since(db, account_id, None)
        seen = (items[-1].created_at, items[-1].id) if items else None
        yield b"retry: 5000\n\n" + _frame("unread", {"unread": unread})
        while True:
            try:
                await asyncio.wait_for(wake.wait(), heartbeat)
            except TimeoutError:
                yield b": heartbeat\n\n"
            wake.clear()
            fresh, now_unread = await _since(db, account_id, seen)
            for item in fresh:
                yield _frame("item", InboxItemPublic.of(item).model_dump(mode="json"), item.id)
                seen = (item.created_at, item.id)
            if fresh or now_unread != unread:
                unread = now_unread
                yield _frame("unread", {"unread": unread})
    finally:
        streams.close(account_id, wake)
