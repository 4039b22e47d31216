"""The dossier service's read model of enterprise mandates (migration 0007), fed by identity's
``identity.mandate.*`` events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Table, Text, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.mandates import MandateView
from .tables import metadata

mandates_view = Table(
    "mandates_view",
    metadata,
    Column("id", Text, primary_key=True),
    Column("enterprise_id", Text, nullable=False),
    Column("representative_id", Text, nullable=False),
    Column("roles", ARRAY(Text), nullable=False, server_default="{}"),
    Column("granted_at", DateTime(timezone=True)),  # null: a revocation arrived first
    Column("revoked_at", DateTime(timezone=True)),
)


class SqlMandatesView:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, mandate_id: str) -> MandateView | None:
        row = (await self._connection.execute(select(mandates_view).where(mandates_view.c.id == mandate_id))).first()
        if row is None:
            return None
        return MandateView(id=row.id, enterprise_id=row.enterprise_id, representative_id=row.representative_id,
                           roles=tuple(row.roles), granted_at=row.granted_at, revoked_at=row.revoked_at)  # fmt: skip

    async def granted(
        self, mandate_id: str, enterprise_id: str, representative_id: str, roles: list[str], at: datetime
    ) -> None:
        """Record a grant; a mandate already revoked here stays revoked (events may come twice)."""
        insert = pg_insert(mandates_view).values(
            id=mandate_id, enterprise_id=enterprise_id, representative_id=representative_id, roles=roles,
            granted_at=at,
        )  # fmt: skip
        keep_revoked = insert.on_conflict_do_update(
            index_elements=[mandates_view.c.id],
            set_={"roles": roles, "granted_at": at},
            where=mandates_view.c.revoked_at.is_(None),
        )
        await self._connection.execute(keep_revoked)

    async def revoked(self, mandate_id: str, enterprise_id: str, representative_id: str, at: datetime) -> None:
        insert = pg_insert(mandates_view).values(id=mandate_id, enterprise_id=enterprise_id,
                                                 representative_id=representative_id, revoked_at=at)  # fmt: skip
        await self._connection.execute(
            insert.on_conflict_do_update(index_elements=[mandates_view.c.id], set_={"revoked_at": at})
        )
