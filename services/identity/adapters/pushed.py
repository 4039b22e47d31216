"""Pushed authorization requests (RFC 9126) and the DPoP proofs the token endpoint has seen
(RFC 9449 §11.1), on PostgreSQL: every replica of identity sees the same ones.

A request URI is stored as the SHA-256 of its random part, as codes are."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Row, Table, Text, func, insert, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.pushed import PushedRequest
from .oauth import clients
from .tables import metadata

pushed_authorization_requests = Table(
    "pushed_authorization_requests",
    metadata,
    Column("request_uri_hash", Text, primary_key=True),
    Column("client_id", Text, ForeignKey(clients.c.client_id), nullable=False),
    Column("parameters", JSONB, nullable=False),  # the authorization request, as pushed and checked
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("opened_at", DateTime(timezone=True)),  # first used at the authorization endpoint
    Column("consumed_at", DateTime(timezone=True)),  # a code was issued for it
)

dpop_proof_jtis = Table(
    "dpop_proof_jtis",
    metadata,
    Column("jkt", Text, primary_key=True),
    Column("jti", Text, primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


def _to_request(row: Row[Any]) -> PushedRequest:
    return PushedRequest(
        request_uri_hash=row.request_uri_hash, client_id=row.client_id, parameters=dict(row.parameters),
        expires_at=row.expires_at, opened_at=row.opened_at, consumed_at=row.consumed_at,
    )  # fmt: skip


class SqlPushedRequests:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    async def add(self, request: PushedRequest) -> None:
        await self._connection.execute(
            insert(pushed_authorization_requests).values(
                request_uri_hash=request.request_uri_hash, client_id=request.client_id,
                parameters=request.parameters, expires_at=request.expires_at,
            )
        )  # fmt: skip

    async def open(self, request_uri_hash: str, client_id: str, now: datetime, until: datetime) -> PushedRequest | None:
        """The client's live request (not consumed, not expired), first opened now: it then
        stays live until ``until`` for the person to sign in. None when there is no live one."""
        table = pushed_authorization_requests
        live = (
            table.c.request_uri_hash == request_uri_hash,
            table.c.client_id == client_id,
            table.c.consumed_at.is_(None),
            table.c.expires_at > now,
        )
        await self._connection.execute(
            update(table).where(*live, table.c.opened_at.is_(None)).values(opened_at=now, expires_at=until)
        )
        row = (await self._connection.execute(select(table).where(*live))).first()
        return _to_request(row) if row else None

    async def consume(self, request_uri_hash: str, now: datetime) -> bool:
        """Mark the live request used by a code; False when it is not live (used or expired)."""
        table = pushed_authorization_requests
        done = await self._connection.execute(
            update(table)
            .where(
                table.c.request_uri_hash == request_uri_hash, table.c.consumed_at.is_(None), table.c.expires_at > now
            )
            .values(consumed_at=now)
        )
        return bool(done.rowcount)


class SqlDpopProofs:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    async def remember(self, jkt: str, jti: str, expires_at: datetime) -> bool:
        stored = await self._connection.execute(
            pg_insert(dpop_proof_jtis)
            .values(jkt=jkt, jti=jti, expires_at=expires_at)
            .on_conflict_do_nothing()
            .returning(dpop_proof_jtis.c.jti)
        )
        return stored.first() is not None
