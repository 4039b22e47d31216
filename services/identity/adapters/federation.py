"""Storage of the national e-ID federation: sign-ins under way at the e-ID (by the hash of their
``state``), the links between e-ID accounts and portal accounts, and the audit of linking."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Table, Text, delete, insert, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.federation import EidLink, LinkAction, LinkEvent, PendingEidSignIn
from .tables import metadata

eid_sign_ins = Table(
    "eid_sign_ins",
    metadata,
    Column("state_hash", Text, primary_key=True),
    Column("browser_hash", Text, nullable=False),
    Column("request", JSONB, nullable=False),  # the portal's authorization request, as its form
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("eid_sign_ins_expires", "expires_at"),
)

eid_links = Table(
    "eid_links",
    metadata,
    Column("account_id", Text, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("subject", Text, nullable=False, unique=True),
    Column("linked_at", DateTime(timezone=True), nullable=False),
)

eid_link_audit = Table(
    "eid_link_audit",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("account_id", Text),
    Column("action", Text, nullable=False),  # linked | unlinked | refused
    Column("reason", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("subject_masked", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("eid_link_audit_account", "account_id", "at"),
)


class SqlEidSignIns:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    async def add(self, pending: PendingEidSignIn, now: datetime) -> None:
        # Sign-ins nobody came back from go when a new one starts (a few rows at a time).
        expired = select(eid_sign_ins.c.state_hash).where(eid_sign_ins.c.expires_at < now).limit(100)
        await self._connection.execute(delete(eid_sign_ins).where(eid_sign_ins.c.state_hash.in_(expired)))
        await self._connection.execute(
            insert(eid_sign_ins).values(
                state_hash=pending.state_hash, browser_hash=pending.browser_hash, request=pending.request,
                expires_at=pending.expires_at,
            )
        )  # fmt: skip

    async def take(self, state_hash: str, browser_hash: str) -> PendingEidSignIn | None:
        mine = (eid_sign_ins.c.state_hash == state_hash) & (eid_sign_ins.c.browser_hash == browser_hash)
        row = (await self._connection.execute(delete(eid_sign_ins).where(mine).returning(eid_sign_ins))).first()
        if row is None:
            return None
        return PendingEidSignIn(row.state_hash, row.browser_hash, dict(row.request), row.expires_at)


class SqlEidLinks:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    async def by_subject(self, subject: str) -> EidLink | None:
        row = (
            await self._connection.execute(select(eid_links).where(eid_links.c.subject == subject).with_for_update())
        ).first()
        return EidLink(row.account_id, row.subject, row.linked_at) if row is not None else None

    async def of_account(self, account_id: str) -> EidLink | None:
        query = select(eid_links).where(eid_links.c.account_id == account_id).with_for_update()
        row = (await self._connection.execute(query)).first()
        return EidLink(row.account_id, row.subject, row.linked_at) if row is not None else None

    async def add(self, link: EidLink) -> None:
        await self._connection.execute(
            insert(eid_links).values(account_id=link.account_id, subject=link.subject, linked_at=link.linked_at)
        )

    async def remove(self, account_id: str) -> bool:
        done = await self._connection.execute(delete(eid_links).where(eid_links.c.account_id == account_id))
        return bool(done.rowcount)

    async def record(self, event: LinkEvent) -> None:
        await self._connection.execute(
            insert(eid_link_audit).values(
                account_id=event.account_id, action=event.action.value, reason=event.reason, actor=event.actor,
                subject_masked=event.subject_masked, at=event.at,
            )
        )  # fmt: skip

    async def history(self, account_id: str, limit: int) -> list[LinkEvent]:
        query = (
            select(eid_link_audit)
            .where(eid_link_audit.c.account_id == account_id)
            .order_by(eid_link_audit.c.id.desc())
            .limit(limit)
        )
        return [
            LinkEvent(r.account_id, LinkAction(r.action), r.reason, r.actor, r.subject_masked, r.at)
            for r in await self._connection.execute(query)
        ]
