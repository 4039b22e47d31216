"""Storage of back-channel logout: which relying parties received tokens in which browser
session (``session_clients``), and the logout tokens waiting for delivery, with what became of
each (``backchannel_logouts``: the outbox of the deliveries and their audit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    Row,
    Table,
    Text,
    delete,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from ..domain.logout import PendingLogout
from .oauth import clients
from .tables import metadata

session_clients = Table(
    "session_clients",
    metadata,
    Column("sid", Text, primary_key=True),
    Column("client_id", Text, primary_key=True),
    Column("account_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The browser session's end: after it there is nothing left to log out.
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("session_clients_account", "account_id"),
    Index("session_clients_expiry", "expires_at"),
)

backchannel_logouts = Table(
    "backchannel_logouts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("client_id", Text, nullable=False),
    Column("uri", Text, nullable=False),
    Column("account_id", Text, nullable=False),
    Column("sid", Text),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("delivered_at", DateTime(timezone=True)),
    Column("abandoned_at", DateTime(timezone=True)),
    Index(
        "backchannel_logouts_due",
        "next_attempt_at",
        postgresql_where="delivered_at IS NULL AND abandoned_at IS NULL",
    ),
    Index("backchannel_logouts_account", "account_id"),
    Index("backchannel_logouts_created", "created_at"),
)


def _pending(row: Row[Any]) -> PendingLogout:
    return PendingLogout(
        id=row.id, client_id=row.client_id, uri=row.uri, account_id=row.account_id, sid=row.sid, reason=row.reason,
        created_at=row.created_at, attempts=row.attempts,
    )  # fmt: skip


class SqlBackchannelLogouts:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    async def remember_client(self, sid: str, client_id: str, account_id: str, expires_at: datetime) -> None:
        await self._connection.execute(
            pg_insert(session_clients)
            .values(sid=sid, client_id=client_id, account_id=account_id, expires_at=expires_at)
            .on_conflict_do_nothing()
        )

    async def queue_for_session(self, sid: str, reason: str, now: datetime) -> int:
        return await self._queue(session_clients.c.sid == sid, reason, now)

    async def queue_for_account(self, account_id: str, reason: str, now: datetime) -> int:
        return await self._queue(session_clients.c.account_id == account_id, reason, now)

    async def _queue(self, which: ColumnElement[bool], reason: str, now: datetime) -> int:
        """One logout per (session, client) still remembered, to clients with a logout URI that
        are enabled; the sessions are forgotten so that a later lock does not log them out again."""
        taken = (
            delete(session_clients)
            .where(which, session_clients.c.expires_at > now)
            .returning(session_clients.c.sid, session_clients.c.client_id, session_clients.c.account_id)
            .cte("taken")
        )
        source = (
            select(
                taken.c.client_id,
                clients.c.backchannel_logout_uri,
                taken.c.account_id,
                taken.c.sid,
                literal(reason),
                literal(now),
                literal(now),
            )
            .join(clients, clients.c.client_id == taken.c.client_id)
            .where(clients.c.backchannel_logout_uri.is_not(None), clients.c.disabled_at.is_(None))
        )
        names = ["client_id", "uri", "account_id", "sid", "reason", "created_at", "next_attempt_at"]
        result = await self._connection.execute(
            insert(backchannel_logouts).from_select(names, source).returning(backchannel_logouts.c.id)
        )
        return len(result.all())

    async def due(self, now: datetime, limit: int) -> list[PendingLogout]:
        query = (
            select(backchannel_logouts)
            .where(
                backchannel_logouts.c.delivered_at.is_(None),
                backchannel_logouts.c.abandoned_at.is_(None),
                backchannel_logouts.c.next_attempt_at <= now,
            )
            .order_by(backchannel_logouts.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_pending(row) for row in await self._connection.execute(query)]

    async def delivered(self, logout_id: int, attempts: int, now: datetime) -> None:
        await self._attempted(logout_id, attempts, now, delivered_at=now, last_error=None)

    async def retry_later(self, logout_id: int, attempts: int, now: datetime, at: datetime, error: str) -> None:
        await self._attempted(logout_id, attempts, now, next_attempt_at=at, last_error=error[:500])

    async def abandon(self, logout_id: int, attempts: int, now: datetime, error: str) -> None:
        await self._attempted(logout_id, attempts, now, abandoned_at=now, last_error=error[:500])

    async def _attempted(self, logout_id: int, attempts: int, now: datetime, **values: object) -> None:
        await self._connection.execute(
            update(backchannel_logouts)
            .where(backchannel_logouts.c.id == logout_id)
            .values(attempts=attempts, last_attempt_at=now, **values)
        )

    async def forget_finished(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` delivered or abandoned logouts created before ``before``."""
        old = (
            select(backchannel_logouts.c.id)
            .where(
                backchannel_logouts.c.created_at < before,
                (backchannel_logouts.c.delivered_at.is_not(None)) | (backchannel_logouts.c.abandoned_at.is_not(None)),
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self._connection.execute(delete(backchannel_logouts).where(backchannel_logouts.c.id.in_(old)))
        return int(result.rowcount)

    async def forget_ended_sessions(self, now: datetime, limit: int) -> int:
        """Forget up to ``limit`` sessions whose browser session has expired."""
        key = tuple_(session_clients.c.sid, session_clients.c.client_id)
        ended = (
            select(session_clients.c.sid, session_clients.c.client_id)
            .where(session_clients.c.expires_at <= now)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self._connection.execute(delete(session_clients).where(key.in_(ended)))
        return int(result.rowcount)
