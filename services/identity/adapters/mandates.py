"""Storage of enterprise mandates (migration 0011): one row per mandate, revoked ones kept with
who revoked them; the codes and refresh tokens issued while acting for an enterprise carry the
mandate's id (``mandate_id``, added to them by the same migration)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Index, Row, Table, Text, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.mandates import Mandate
from .oauth import authorization_codes, issued_access_tokens, refresh_tokens, revoked_access_tokens
from .tables import metadata

mandates = Table(
    "mandates",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("enterprise_id", Text, ForeignKey("accounts.id"), nullable=False),
    Column("representative_id", Text, ForeignKey("accounts.id"), nullable=False),
    Column("roles", ARRAY(Text), nullable=False),
    Column("granted_by", Text, nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("revoked_by", Text),
    Column("revoked_at", DateTime(timezone=True)),
    Index("mandates_enterprise", "enterprise_id", "granted_at"),
    Index("mandates_representative", "representative_id"),
    # One active mandate per person and enterprise: a second grant is a conflict, not a duplicate.
    Index(
        "mandates_one_active",
        "enterprise_id",
        "representative_id",
        unique=True,
        postgresql_where=text("revoked_at IS NULL"),
    ),
)


def _to_mandate(row: Row[Any]) -> Mandate:
    return Mandate(
        id=str(row.id), enterprise_id=row.enterprise_id, representative_id=row.representative_id,
        roles=tuple(row.roles), granted_by=row.granted_by, granted_at=row.granted_at, revoked_by=row.revoked_by,
        revoked_at=row.revoked_at,
    )  # fmt: skip


class SqlMandates:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    async def get(self, mandate_id: str, *, for_update: bool = False) -> Mandate | None:
        query = select(mandates).where(mandates.c.id == mandate_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).first()
        return _to_mandate(row) if row is not None else None

    async def active(self, enterprise_id: str, representative_id: str) -> Mandate | None:
        query = select(mandates).where(
            mandates.c.enterprise_id == enterprise_id, mandates.c.representative_id == representative_id,
            mandates.c.revoked_at.is_(None),
        )  # fmt: skip
        row = (await self._connection.execute(query)).first()
        return _to_mandate(row) if row is not None else None

    async def count_active(self, enterprise_id: str) -> int:
        query = select(func.count()).where(mandates.c.enterprise_id == enterprise_id, mandates.c.revoked_at.is_(None))
        return int(await self._connection.scalar(query) or 0)

    async def of_enterprise(self, enterprise_id: str, limit: int) -> list[Mandate]:
        query = (
            select(mandates)
            .where(mandates.c.enterprise_id == enterprise_id)
            .order_by(mandates.c.revoked_at.is_not(None), mandates.c.granted_at.desc(), mandates.c.id)
            .limit(limit)
        )
        return [_to_mandate(r) for r in (await self._connection.execute(query)).all()]

    async def held_by(self, representative_id: str, limit: int) -> list[Mandate]:
        query = (
            select(mandates)
            .where(mandates.c.representative_id == representative_id, mandates.c.revoked_at.is_(None))
            .order_by(mandates.c.granted_at.desc())
            .limit(limit)
        )
        return [_to_mandate(r) for r in (await self._connection.execute(query)).all()]

    async def add(self, mandate: Mandate) -> None:
        await self._connection.execute(
            mandates.insert().values(
                id=mandate.id, enterprise_id=mandate.enterprise_id, representative_id=mandate.representative_id,
                roles=list(mandate.roles), granted_by=mandate.granted_by, granted_at=mandate.granted_at,
            )
        )  # fmt: skip

    async def save_revocation(self, mandate: Mandate) -> None:
        await self._connection.execute(
            update(mandates)
            .where(mandates.c.id == mandate.id)
            .values(revoked_by=mandate.revoked_by, revoked_at=mandate.revoked_at)
        )

    async def revoke_tokens(self, mandate_id: str, now: datetime) -> None:
        """Void the mandate's unredeemed codes, revoke its refresh-token families and the access
        tokens issued with them or from its codes."""
        await self._connection.execute(
            update(authorization_codes)
            .where(authorization_codes.c.mandate_id == mandate_id, authorization_codes.c.consumed_at.is_(None))
            .values(consumed_at=now)
        )
        families = select(refresh_tokens.c.family_id).where(refresh_tokens.c.mandate_id == mandate_id)
        codes = select(authorization_codes.c.code_hash).where(authorization_codes.c.mandate_id == mandate_id)
        await self._connection.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.mandate_id == mandate_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        issued = select(issued_access_tokens.c.jti, issued_access_tokens.c.expires_at).where(
            issued_access_tokens.c.expires_at > now,
            issued_access_tokens.c.family_id.in_(families) | issued_access_tokens.c.code_hash.in_(codes),
        )
        await self._connection.execute(
            pg_insert(revoked_access_tokens).from_select(["jti", "expires_at"], issued).on_conflict_do_nothing()
        )
