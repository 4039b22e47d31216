"""The notification service's repositories on a PostgreSQL connection (SQLAlchemy Core): rows
in, entities out. They implement the ports of ``service/unit_of_work.py``."""

from __future__ import annotations

import zlib
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, literal, null, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.deadlines import AgencyDue, DigestWindow, DossierDeadline, FeedbackDeadline
from ..domain.delivery import Channel
from ..domain.messages import Message, Status
from ..domain.notices import Kind, Preferences
from ..domain.templates import Language, Template
from ..service.unit_of_work import Device, InboxItem, Notice, OwnedDossier
from .tables import (
    devices,
    digests,
    dossier_deadlines,
    dossiers,
    feedback_deadlines,
    inbox_items,
    messages,
    notices,
    preferences,
    templates,
)

#: The channel of PostgreSQL's NOTIFY that wakes a person's live inbox streams.
INBOX_CHANNEL = "notification_inbox"
# One NOTIFY per person (PostgreSQL folds repeats within a transaction).
_SIGNAL = text("SELECT pg_notify(:channel, account) FROM unnest(CAST(:accounts AS text[])) AS account")


def _template(row: Any) -> Template:
    return Template(Kind(row.kind), row.language, row.version, dict(row.texts), dict(row.variables), row.saved_at,
                    row.saved_by)  # fmt: skip


class SqlTemplates:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def current(self, kind: Kind, language: Language) -> Template | None:
        t = templates.c
        query = (select(templates).where(t.kind == kind.value, t.language == language)
                 .order_by(t.version.desc()).limit(1))  # fmt: skip
        row = (await self.connection.execute(query)).first()
        return _template(row) if row is not None else None

    async def add(self, template: Template) -> bool:
        row = {"kind": template.kind.value, "language": template.language, "version": template.version,
               "texts": template.texts, "variables": template.variables, "saved_at": template.saved_at,
               "saved_by": template.saved_by}  # fmt: skip
        added = await self.connection.execute(
            insert(templates).values(**row).on_conflict_do_nothing().returning(templates.c.version)
        )
        return added.first() is not None

    async def latest(self) -> list[Template]:
        t = templates.c
        newest = (
            select(t.kind, t.language, func.max(t.version).label("version")).group_by(t.kind, t.language).subquery()
        )
        n = newest.c
        chosen = and_(t.kind == n.kind, t.language == n.language, t.version == n.version)
        query = select(templates).join(newest, chosen).order_by(t.kind, t.language)
        return [_template(row) for row in await self.connection.execute(query)]


def _preferences(row: Any) -> Preferences:
    return Preferences(row.account_id, frozenset(Channel(c) for c in row.channels),
                       frozenset(Kind(k) for k in row.switched_off))  # fmt: skip


class SqlPreferences:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def get(self, account_id: str) -> Preferences | None:
        row = (await self.connection.execute(select(preferences).where(preferences.c.account_id == account_id))).first()
        return _preferences(row) if row is not None else None

    async def get_many(self, account_ids: list[str]) -> dict[str, Preferences]:
        rows = await self.connection.execute(select(preferences).where(preferences.c.account_id.in_(account_ids)))
        return {row.account_id: _preferences(row) for row in rows}

    async def put(self, chosen: Preferences, now: datetime) -> None:
        row = {"account_id": chosen.account_id, "channels": sorted(c.value for c in chosen.channels),
               "switched_off": sorted(k.value for k in chosen.switched_off), "updated_at": now}  # fmt: skip
        statement = insert(preferences).values(**row)
        await self.connection.execute(statement.on_conflict_do_update(index_elements=["account_id"], set_=row))

    async def forget(self, account_id: str) -> int:
        result = await self.connection.execute(preferences.delete().where(preferences.c.account_id == account_id))
        return result.rowcount


class SqlNotices:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add_all(self, made: list[Notice]) -> set[str]:
        rows = [{"id": n.id, "event_id": n.event_id, "account_id": n.account_id, "kind": n.kind.value,
                 "language": n.language, "template_version": n.template_version, "created_at": n.created_at}
                for n in made]  # fmt: skip
        # The rows as parameters (executemany), not in the statement: compiled once, not per run.
        statement = insert(notices).on_conflict_do_nothing(constraint="notices_once").returning(notices.c.id)
        added = await self.connection.execute(statement, rows)
        return {row.id for row in added}


def _item(row: Any) -> InboxItem:
    return InboxItem(row.id, row.account_id, row.notice_id, Kind(row.kind), row.title, row.body, row.link,
                     row.created_at, row.read_at)  # fmt: skip


class SqlInbox:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add_all(self, items: list[InboxItem]) -> None:
        rows = [{"id": i.id, "account_id": i.account_id, "notice_id": i.notice_id, "kind": i.kind.value,
                 "title": i.title, "body": i.body, "link": i.link, "created_at": i.created_at, "read_at": i.read_at}
                for i in items]  # fmt: skip
        if rows:
            await self.connection.execute(insert(inbox_items), rows)

    async def page(self, account_id: str, after: tuple[datetime, str] | None, limit: int,
                   unread_only: bool) -> list[InboxItem]:  # fmt: skip
        i = inbox_items.c
        query = select(inbox_items).where(i.account_id == account_id)
        if unread_only:
            query = query.where(i.read_at.is_(None))
        if after is not None:
            # Typed as the columns: an id bound as VARCHAR has no ``<`` with a uuid.
            position = tuple_(literal(after[0], i.created_at.type), literal(after[1], i.id.type))
            query = query.where(tuple_(i.created_at, i.id) < position)
        query = query.order_by(i.created_at.desc(), i.id.desc()).limit(limit)
        return [_item(row) for row in await self.connection.execute(query)]

    async def unread(self, account_id: str) -> int:
        i = inbox_items.c
        query = select(func.count()).where(i.account_id == account_id, i.read_at.is_(None))
        return int((await self.connection.execute(query)).scalar_one())

    async def owns(self, account_id: str, item_id: str) -> bool:
        i = inbox_items.c
        query = select(i.id).where(i.account_id == account_id, i.id == item_id)
        return (await self.connection.execute(query)).first() is not None

    async def mark_read(self, account_id: str, item_id: str | None, now: datetime) -> int:
        i = inbox_items.c
        statement = update(inbox_items).where(i.account_id == account_id, i.read_at.is_(None)).values(read_at=now)
        if item_id is not None:
            statement = statement.where(i.id == item_id)
        return (await self.connection.execute(statement)).rowcount

    async def forget(self, account_id: str) -> int:
        result = await self.connection.execute(inbox_items.delete().where(inbox_items.c.account_id == account_id))
        return result.rowcount

    async def signal(self, account_id: str) -> None:
        await self.signal_many([account_id])

    async def signal_many(self, account_ids: list[str]) -> None:
        if account_ids:
            await self.connection.execute(_SIGNAL, {"channel": INBOX_CHANNEL, "accounts": account_ids})


_MESSAGE_COLUMNS = ("id", "notice_id", "account_id", "channel", "status", "attempts", "due_at", "created_at",
                    "updated_at", "provider", "reference", "parts", "reason", "device_token",
                    "refused_by", "handed_at", "leased_until")  # fmt: skip


def _message(row: Any) -> Message:
    return Message(
        id=row.id, notice_id=row.notice_id, account_id=row.account_id, channel=Channel(row.channel),
        status=Status(row.status), attempts=row.attempts, due_at=row.due_at, created_at=row.created_at,
        updated_at=row.updated_at, provider=row.provider, reference=row.reference, parts=row.parts,
        reason=row.reason, device_token=row.device_token, refused_by=tuple(row.refused_by),
        handed_at=row.handed_at, leased_until=row.leased_until,
    )  # fmt: skip


def _message_row(message: Message) -> dict[str, Any]:
    row = {name: getattr(message, name) for name in _MESSAGE_COLUMNS}
    row["channel"], row["status"] = message.channel.value, message.status.value
    row["refused_by"] = list(message.refused_by)
    return row


#: The advisory lock the dispatchers' claims take in turn (any constant of our own).
CLAIM_LOCK = zlib.crc32(b"notification:claim")


class SqlMessages:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add_all(self, made: list[tuple[Message, dict[str, Any], bool]]) -> None:
        if made:
            rows = [{**_message_row(m), "content": content, "urgent": urgent} for m, content, urgent in made]
            await self.connection.execute(insert(messages), rows)

    async def claim_due(self, now: datetime, limit: int) -> list[tuple[Message, dict[str, Any], bool]]:
        m = messages.c
        # Claims one at a time across dispatchers (until this transaction ends): each counts the
        # SMS the others leased (``sent_since_many``), so no recipient's limit is passed.
        await self.connection.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK)))
        query = (
            select(messages).where(m.status == Status.CREATED.value, m.due_at <= now)
            .order_by(m.due_at).limit(limit).with_for_update(skip_locked=True)
        )  # fmt: skip
        return [(_message(row), dict(row.content or {}), row.urgent) for row in await self.connection.execute(query)]

    async def save(self, message: Message) -> None:
        row = _message_row(message)
        await self.connection.execute(update(messages).where(messages.c.id == message.id).values(**row))

    async def save_all(self, saved: list[Message]) -> None:
        if not saved:
            return
        m = messages.c
        columns = [name for name in _MESSAGE_COLUMNS if name != "id"]
        statement = (
            update(messages).where(m.id == bindparam("message_id"))
            .values({name: bindparam(f"new_{name}") for name in columns})
        )  # fmt: skip
        rows = [{"message_id": row["id"], **{f"new_{n}": row[n] for n in columns}}
                for row in (_message_row(x) for x in saved)]  # fmt: skip
        await self.connection.execute(statement, rows)

    async def sent_since_many(self, account_ids: list[str], channel: str, since: datetime,
                              now: datetime) -> dict[str, list[datetime]]:  # fmt: skip
        m = messages.c
        leased = and_(m.status == Status.CREATED.value, m.leased_until > now)
        query = select(m.account_id, case((leased, now), else_=m.handed_at).label("at")).where(
            m.account_id.in_(account_ids), m.channel == channel,
            or_(m.handed_at >= since, leased),
        )  # fmt: skip
        found: dict[str, list[datetime]] = {}
        for row in await self.connection.execute(query):
            found.setdefault(row.account_id, []).append(row.at)
        return found

    async def delivered(self, provider: str, reference: str, now: datetime) -> bool:
        m = messages.c
        statement = (
            update(messages).where(m.provider == provider, m.reference == reference, m.status == Status.SENDING.value)
            .values(status=Status.DELIVERED.value, updated_at=now, reason=None).returning(m.id)
        )  # fmt: skip
        return (await self.connection.execute(statement)).first() is not None

    async def delivered_many(self, provider: str, references: list[str], now: datetime) -> set[str]:
        if not references:
            return set()
        m = messages.c
        statement = (
            update(messages)
            .where(m.provider == provider, m.reference.in_(references), m.status == Status.SENDING.value)
            .values(status=Status.DELIVERED.value, updated_at=now, reason=None).returning(m.reference)
        )  # fmt: skip
        return {r for (r,) in await self.connection.execute(statement)}

    async def by_reference(self, provider: str, reference: str) -> Message | None:
        m = messages.c
        row = (await self.connection.execute(
            select(messages).where(m.provider == provider, m.reference == reference).with_for_update()
        )).first()  # fmt: skip
        return _message(row) if row is not None else None

    async def forget(self, account_id: str) -> int:
        m = messages.c
        # SQL NULL (``null()``): None would store JSON null, which ``IS NOT NULL`` still sees.
        statement = update(messages).where(m.account_id == account_id, m.content.is_not(None)).values(content=null())
        return (await self.connection.execute(statement)).rowcount

    async def purge_content(self, before: datetime, limit: int) -> int:
        m = messages.c
        chosen = select(m.id).where(m.created_at < before, m.content.is_not(None)).limit(limit).scalar_subquery()
        result = await self.connection.execute(update(messages).where(m.id.in_(chosen)).values(content=null()))
        return result.rowcount


class SqlDevices:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, device: Device) -> None:
        row = {"token": device.token, "account_id": device.account_id, "platform": device.platform,
               "registered_at": device.registered_at}  # fmt: skip
        await self.connection.execute(insert(devices).values(**row).on_conflict_do_update(index_elements=["token"],
                                                                                          set_=row))  # fmt: skip

    async def remove(self, account_id: str, token: str) -> bool:
        d = devices.c
        result = await self.connection.execute(devices.delete().where(d.account_id == account_id, d.token == token))
        return result.rowcount > 0

    async def of(self, account_id: str) -> list[Device]:
        query = select(devices).where(devices.c.account_id == account_id).order_by(devices.c.registered_at)
        return [
            Device(r.token, r.account_id, r.platform, r.registered_at) for r in await self.connection.execute(query)
        ]

    async def of_many(self, account_ids: list[str]) -> dict[str, list[Device]]:
        query = select(devices).where(devices.c.account_id.in_(account_ids)).order_by(devices.c.registered_at)
        found: dict[str, list[Device]] = {}
        for r in await self.connection.execute(query):
            found.setdefault(r.account_id, []).append(Device(r.token, r.account_id, r.platform, r.registered_at))
        return found

    async def forget(self, token: str) -> None:
        await self.connection.execute(devices.delete().where(devices.c.token == token))

    async def forget_account(self, account_id: str) -> int:
        result = await self.connection.execute(devices.delete().where(devices.c.account_id == account_id))
        return result.rowcount


class SqlDossiers:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def save_all(self, owned: list[OwnedDossier]) -> None:
        rows = [{"dossier_id": d.dossier_id, "code": d.code, "owner": d.owner, "agency_code": d.agency_code,
                 "procedure_name": d.procedure_name, "appointment_date": d.appointment_date}
                for d in owned]  # fmt: skip
        if rows:
            await self.connection.execute(insert(dossiers).on_conflict_do_nothing(), rows)

    async def get_many(self, dossier_ids: list[str]) -> dict[str, OwnedDossier]:
        rows = await self.connection.execute(select(dossiers).where(dossiers.c.dossier_id.in_(dossier_ids)))
        return {r.dossier_id: OwnedDossier(r.dossier_id, r.code, r.owner, r.agency_code, r.procedure_name,
                                           r.appointment_date) for r in rows}  # fmt: skip

    async def moved(self, dossier_id: str, appointment_date: date) -> None:
        await self.connection.execute(
            update(dossiers).where(dossiers.c.dossier_id == dossier_id).values(appointment_date=appointment_date)
        )


# Each agency's open dossiers and feedback due by the horizon: counts past and near, and the most
# urgent codes. A feedback item's running deadline as ``FeedbackDeadline.due`` says.
_DUE = text("""
WITH due AS (
    SELECT agency_code, code, due, 'dossier' AS what FROM dossier_deadlines WHERE open AND due <= :horizon
    UNION ALL
    SELECT agency_code, code, running, 'feedback' FROM (
        SELECT agency_code, code,
               CASE WHEN classified_at IS NOT NULL AND (moved_at IS NULL OR classified_at >= moved_at)
                    THEN answer_due ELSE COALESCE(classify_due, answer_due) END AS running
        FROM feedback_deadlines WHERE NOT closed
    ) AS open_feedback WHERE running <= :horizon
), ranked AS (
    SELECT due.*, row_number() OVER (PARTITION BY agency_code ORDER BY due, code) AS n FROM due
)
SELECT agency_code,
       count(*) FILTER (WHERE what = 'dossier' AND due < :today) AS dossiers_past,
       count(*) FILTER (WHERE what = 'dossier' AND due >= :today) AS dossiers_near,
       count(*) FILTER (WHERE what = 'feedback' AND due < :today) AS feedback_past,
       count(*) FILTER (WHERE what = 'feedback' AND due >= :today) AS feedback_near,
       array_agg(code ORDER BY due, code) FILTER (WHERE n <= :codes) AS codes
FROM ranked GROUP BY agency_code ORDER BY agency_code
""")


class SqlDeadlines:
    """The digest's read models; each save folds its facts into the stored rows as the domain
    folds them (``DossierDeadline.then``, ``FeedbackDeadline.then``), whatever their order."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def save_dossiers(self, facts: list[DossierDeadline]) -> None:
        if not facts:
            return
        rows = [{"dossier_id": f.dossier_id, "agency_code": f.agency_code, "code": f.code, "due": f.due,
                 "status": f.status, "open": f.open, "as_of": f.as_of, "due_as_of": f.due_as_of}
                for f in facts]  # fmt: skip
        statement = insert(dossier_deadlines)
        new, old = statement.excluded, dossier_deadlines.c
        newer = new.as_of >= old.as_of
        chosen = {name: case((newer, new[name]), else_=old[name]) for name in ("agency_code", "code", "status", "open")}
        dated = and_(new.due_as_of.is_not(None), or_(old.due_as_of.is_(None), new.due_as_of >= old.due_as_of))
        chosen |= {name: case((dated, new[name]), else_=old[name]) for name in ("due", "due_as_of")}
        await self.connection.execute(statement.on_conflict_do_update(
            index_elements=["dossier_id"], set_={**chosen, "as_of": func.greatest(old.as_of, new.as_of)},
        ), rows)  # fmt: skip

    async def save_feedback(self, facts: list[FeedbackDeadline]) -> None:
        if not facts:
            return
        rows = [{"feedback_id": f.feedback_id, "agency_code": f.agency_code, "code": f.code,
                 "classify_due": f.classify_due, "answer_due": f.answer_due, "moved_at": f.moved_at,
                 "classified_at": f.classified_at, "closed": f.closed} for f in facts]  # fmt: skip
        statement = insert(feedback_deadlines)
        new, old = statement.excluded, feedback_deadlines.c
        moved = or_(old.moved_at.is_(None), new.moved_at >= old.moved_at)
        chosen = {name: case((moved, new[name]), else_=old[name])
                  for name in ("agency_code", "code", "classify_due", "answer_due")}  # fmt: skip
        await self.connection.execute(statement.on_conflict_do_update(
            index_elements=["feedback_id"],
            set_={**chosen, "moved_at": func.greatest(old.moved_at, new.moved_at),
                  "classified_at": func.greatest(old.classified_at, new.classified_at),
                  "closed": or_(old.closed, new.closed)},
        ), rows)  # fmt: skip

    async def due(self, window: DigestWindow, codes: int) -> list[AgencyDue]:
        found = await self.connection.execute(_DUE, {"today": window.today, "horizon": window.horizon, "codes": codes})
        return [AgencyDue(r.agency_code, r.dossiers_past, r.dossiers_near, r.feedback_past, r.feedback_near,
                          tuple(r.codes or ())) for r in found]  # fmt: skip

    async def digest_made(self, day: date) -> bool:
        return (await self.connection.execute(select(digests.c.day).where(digests.c.day == day))).first() is not None

    async def digest_done(self, day: date, now: datetime, notices: int) -> None:
        row = {"day": day, "made_at": now, "notices": notices}
        await self.connection.execute(insert(digests).values(**row).on_conflict_do_nothing())
