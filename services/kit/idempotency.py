"""Idempotency keys for writes that clients retry (architecture guide §6): the same key with
the same request answers what the first request made; the same key with another request is
refused (422). One table per service (``idempotency_table``), keyed by (owner, key).

Requests with one key are serialised by a transaction-scoped advisory lock taken before the key
is read, so two concurrent retries cannot both miss it and both create.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, MetaData, PrimaryKeyConstraint, Table, Text, func, select
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .errors import DomainError


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key came back with another request."""

    def __init__(self, detail: str = "The same Idempotency-Key came with a different request."):
        super().__init__(detail)


def idempotency_table(metadata: MetaData, resource: str) -> Table:
    """``idempotency_keys``: (owner, key) → the request's hash and the id of what it made
    (``resource``: the referenced ``table.column``)."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("owner", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("request_hash", Text, nullable=False),
        Column("resource_id", UUID(as_uuid=False), ForeignKey(resource), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("owner", "key"),
    )


def request_hash(request: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


async def replayed(session: AsyncConnection, table: Table, owner: str, key: str, fingerprint: str) -> str | None:
    """The id made by an earlier request with this key (None: first use). Raises
    :class:`IdempotencyKeyReused` when that request was another one."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(owner + "\x1f" + key, 0))))
    row = (await session.execute(select(table).where(table.c.owner == owner, table.c.key == key))).first()
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    return str(row.resource_id)


async def remember(
    session: AsyncConnection, table: Table, owner: str, key: str, fingerprint: str, resource_id: str
) -> None:
    await session.execute(insert(table).values(owner=owner, key=key, request_hash=fingerprint, resource_id=resource_id))
