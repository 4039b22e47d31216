"""Reads and writes of dossiers, their sequences, history, files, keys, drafts and ratings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kit.db import insert_rows, json_text, outbox_insert_sql
from services.kit.sqlsets import in_array, pair_in_arrays

from .tables import (
    attachments,
    dossier_history,
    dossier_refused_updates,
    dossiers,
    drafts,
    ratings,
    supplement_requests,
)


def _dict(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


# --- sequences and keys ---------------------------------------------------------------------


# --- a submission in one statement ---------------------------------------------------------

# What a portal submission writes to ``dossiers`` (the code is made by the statement).
FILED_COLUMNS = (
    "id", "origin", "owner", "applicant_kind", "applicant_identifier", "applicant_key", "applicant", "service_id",
    "service_version", "procedure_code", "procedure_name", "document_name", "agency_code", "agency_name",
    "routing_target", "status", "status_changed_at", "last_update_at", "form", "fees", "fee_total", "received_at",
    "appointment_date", "lookup_secret",
)  # fmt: skip
_HISTORY_COLUMNS = ("occurred_at", "previous", "status", "source", "actor", "note")
_CODED = "jsonb_set(e.data, '{code}', to_jsonb(d.code))"  # each event's data, with the code just made


def _typed(table: Any, name: str, prefix: str = "") -> str:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]  # the package's alias of its default dialect
    return f"CAST(:{prefix}{name} AS {table.c[name].type.compile(dialect=dialect)})"


# Every step of filing, in one statement (one round trip, atomic on its own):
# - ``offered``: the service still offers the version the dossier was checked against (a cached
#   definition is only used while this holds);
# - ``number``: the agency's next number of the day — that row stays locked until the caller's
#   transaction ends, so numbers are taken one after another and a rollback gives its number back;
# - ``dossier``: the dossier under its code, unless a dossier mirrored from the agency already
#   holds that code (then nothing below is written and the caller takes the next number);
# - its first timeline line and its events (their ``code`` filled in here).
_FILE = text(
    "WITH offered AS (SELECT 1 FROM catalogue_services s JOIN catalogue_service_versions v USING (service_id) "
    "WHERE s.service_id = :service_id AND s.status = 'published' AND s.current_version = :service_version "
    "AND v.version = :service_version AND v.revision = :service_revision), "
    "number AS (INSERT INTO dossier_sequences (agency_code, day, last_value) "
    "SELECT :agency_code, CAST(:day AS date), 1 FROM offered ON CONFLICT (agency_code, day) "
    "DO UPDATE SET last_value = dossier_sequences.last_value + 1 RETURNING last_value), "
    f"dossier AS (INSERT INTO dossiers (code, {', '.join(FILED_COLUMNS)}) "
    "SELECT :code_prefix || CASE WHEN n.last_value < 10000 THEN lpad(n.last_value::text, 4, '0') "
    f"ELSE n.last_value::text END, {', '.join(_typed(dossiers, c) for c in FILED_COLUMNS)} "
    "FROM number n ON CONFLICT (code) DO NOTHING RETURNING id, code), "
    f"history AS (INSERT INTO dossier_history (dossier_id, {', '.join(_HISTORY_COLUMNS)}) "
    f"SELECT d.id, {', '.join(_typed(dossier_history, c, 'history_') for c in _HISTORY_COLUMNS)} FROM dossier d), "
    f"events AS ({outbox_insert_sql(after='dossier d', data=_CODED)}) "
    "SELECT EXISTS (SELECT 1 FROM offered) AS offered, (SELECT code FROM dossier) AS code"
)


async def file_dossier(
    execute: Callable[[Any, dict[str, Any]], Awaitable[Any]], values: dict[str, Any], *, service_revision: int,
    day: date, code_prefix: str, history: dict[str, Any], events: dict[str, list[Any]],
) -> tuple[bool, str | None]:  # fmt: skip
    """Write a submitted dossier, its first timeline line and its staged events (see ``_FILE``)
    with ``execute`` (a connection's, or a unit of work's ``execute_alone``).
    ``(offered, code)``: offered False when the service no longer offers that version (nothing
    written); code None when the number was already held by a mirrored dossier."""
    params = {name: values[name] for name in FILED_COLUMNS}
    for name in ("applicant", "form", "fees"):
        params[name] = json_text(params[name])
    params.update({f"history_{name}": history[name] for name in _HISTORY_COLUMNS})
    params.update(events, service_revision=service_revision, day=day, code_prefix=code_prefix)
    row = (await execute(_FILE, params)).one()
    return bool(row.offered), row.code


# --- dossiers -------------------------------------------------------------------------------


async def dossier_by_id(session: AsyncConnection, dossier_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    query = select(dossiers).where(dossiers.c.id == dossier_id)
    return _dict((await session.execute(query.with_for_update() if lock else query)).first())


async def dossier_by_code(session: AsyncConnection, code: str, *, lock: bool = False) -> dict[str, Any] | None:
    query = select(dossiers).where(dossiers.c.code == code)
    return _dict((await session.execute(query.with_for_update() if lock else query)).first())


async def dossiers_by_codes(session: AsyncConnection, codes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The dossiers of these codes, rows locked in code order (no deadlock between batches)."""
    if not codes:
        return {}
    query = select(dossiers).where(in_array(dossiers.c.code, set(codes))).order_by(dossiers.c.code).with_for_update()
    return {row.code: dict(row._mapping) for row in await session.execute(query)}


async def insert_dossiers(session: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await insert_rows(session, dossiers, rows)


_STATUS_COLUMNS = ("status", "last_update_at", "status_changed_at", "finished_at", "returned_at")
_UPDATE_STATUS = (
    update(dossiers).where(dossiers.c.id == bindparam("_id")).values({c: bindparam(c) for c in _STATUS_COLUMNS})
)


async def update_statuses(session: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """The status columns of many dossiers in one executemany (``rows`` carry ``id`` and the columns)."""
    if rows:
        params = [{"_id": r["id"], **{c: r[c] for c in _STATUS_COLUMNS}} for r in rows]
        await session.execute(_UPDATE_STATUS, params)


async def add_histories(session: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await insert_rows(session, dossier_history, rows)


async def records_seen(session: AsyncConnection, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (dossier id, record id) pairs are already on a timeline."""
    if not pairs:
        return set()
    query = select(dossier_history.c.dossier_id, dossier_history.c.record_id).where(
        pair_in_arrays(dossier_history.c.dossier_id, dossier_history.c.record_id, set(pairs))
    )
    return {(str(r.dossier_id), r.record_id) for r in await session.execute(query)}


async def record_refusals(session: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(dossier_refused_updates), rows)


async def update_dossier(session: AsyncConnection, dossier_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(dossiers).where(dossiers.c.id == dossier_id).values(**values))


async def list_dossiers(
    session: AsyncConnection,
    *,
    owner: str | None = None,
    mirrored_for: str | None = None,
    agencies: Sequence[str] | None = None,
    status: int | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first, keyset on (created_at, id). ``owner`` lists an account's own dossiers, and
    with ``mirrored_for`` (its applicant key) those mirrored for it too."""
    conditions = []
    if owner is not None and mirrored_for is not None:
        mirrored = and_(dossiers.c.origin == "mirrored", dossiers.c.applicant_key == mirrored_for)
        conditions.append(or_(dossiers.c.owner == owner, mirrored))
    elif owner is not None:
        conditions.append(dossiers.c.owner == owner)
    if agencies is not None:
        conditions.append(dossiers.c.agency_code.in_(list(agencies)))
    if status is not None:
        conditions.append(dossiers.c.status == status)
    if after is not None:
        created, last_id = after
        conditions.append(
            or_(dossiers.c.created_at < created, and_(dossiers.c.created_at == created, dossiers.c.id < last_id))
        )
    query = (
        select(dossiers).where(*conditions).order_by(dossiers.c.created_at.desc(), dossiers.c.id.desc()).limit(limit)
    )
    return [dict(row._mapping) for row in await session.execute(query)]


# --- history --------------------------------------------------------------------------------


async def add_history(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(insert(dossier_history), values)


async def timeline(session: AsyncConnection, dossier_id: str) -> list[dict[str, Any]]:
    query = (
        select(
            dossier_history.c.occurred_at,
            dossier_history.c.previous,
            dossier_history.c.status,
            dossier_history.c.source,
            dossier_history.c.note,
        )
        .where(dossier_history.c.dossier_id == dossier_id)
        .order_by(dossier_history.c.id)
    )
    return [dict(row._mapping) for row in await session.execute(query)]


# --- attachments ----------------------------------------------------------------------------


async def insert_attachment(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(insert(attachments).values(**values))


async def lock_attachments(session: AsyncConnection, ids: Sequence[str]) -> list[dict[str, Any]]:
    query = select(attachments).where(attachments.c.id.in_(list(ids))).order_by(attachments.c.id).with_for_update()
    return [dict(row._mapping) for row in await session.execute(query)]


async def bind_attachments(
    session: AsyncConnection, dossier_id: str, components: dict[str, str | None], supplement_id: int | None = None
) -> None:
    for attachment_id, component in components.items():
        await session.execute(
            update(attachments)
            .where(attachments.c.id == attachment_id)
            .values(dossier_id=dossier_id, component_code=component, supplement_id=supplement_id)
        )


async def attachments_of(session: AsyncConnection, dossier_id: str) -> list[dict[str, Any]]:
    query = select(attachments).where(attachments.c.dossier_id == dossier_id).order_by(attachments.c.created_at)
    return [dict(row._mapping) for row in await session.execute(query)]


async def attachment(session: AsyncConnection, attachment_id: str) -> dict[str, Any] | None:
    return _dict((await session.execute(select(attachments).where(attachments.c.id == attachment_id))).first())


# --- supplements, ratings, drafts -----------------------------------------------------------


async def open_supplement(session: AsyncConnection, dossier_id: str) -> dict[str, Any] | None:
    query = (
        select(supplement_requests)
        .where(supplement_requests.c.dossier_id == dossier_id, supplement_requests.c.fulfilled_at.is_(None))
        .with_for_update()
    )
    return _dict((await session.execute(query)).first())


async def request_supplement(
    session: AsyncConnection, dossier_id: str, requested_at: datetime, note: str | None
) -> None:
    statement = insert(supplement_requests).values(dossier_id=dossier_id, requested_at=requested_at, note=note)
    await session.execute(
        statement.on_conflict_do_nothing(
            index_elements=["dossier_id"], index_where=supplement_requests.c.fulfilled_at.is_(None)
        )
    )


async def fulfil_supplement(session: AsyncConnection, supplement_id: int, at: datetime) -> None:
    await session.execute(
        update(supplement_requests).where(supplement_requests.c.id == supplement_id).values(fulfilled_at=at)
    )


async def insert_rating(session: AsyncConnection, values: dict[str, Any]) -> bool:
    """False when the dossier was already rated."""
    result = await session.execute(
        insert(ratings).values(**values).on_conflict_do_nothing().returning(ratings.c.dossier_id)
    )
    return result.first() is not None


async def rating_of(session: AsyncConnection, dossier_id: str) -> dict[str, Any] | None:
    return _dict((await session.execute(select(ratings).where(ratings.c.dossier_id == dossier_id))).first())


async def save_draft(session: AsyncConnection, values: dict[str, Any]) -> None:
    statement = insert(drafts).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["id"],
            set_={"content": statement.excluded.content, "updated_at": func.now()},
            where=drafts.c.owner == statement.excluded.owner,
        )
    )


async def draft(session: AsyncConnection, draft_id: str) -> dict[str, Any] | None:
    return _dict((await session.execute(select(drafts).where(drafts.c.id == draft_id))).first())


async def drafts_of(session: AsyncConnection, owner: str) -> list[dict[str, Any]]:
    query = select(drafts).where(drafts.c.owner == owner).order_by(drafts.c.updated_at.desc())
    return [dict(row._mapping) for row in await session.execute(query)]


async def count_drafts(session: AsyncConnection, owner: str) -> int:
    return int((await session.execute(select(func.count()).where(drafts.c.owner == owner))).scalar_one())


async def delete_draft(session: AsyncConnection, draft_id: str) -> None:
    await session.execute(drafts.delete().where(drafts.c.id == draft_id))
