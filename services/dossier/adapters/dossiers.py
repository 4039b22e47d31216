"""The dossier service's repositories on PostgreSQL: dossiers (numbered and filed in one
statement), their timelines, refused updates, files, supplement requests, ratings, drafts and
idempotency keys. Rows become entities here and nowhere else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import and_, bindparam, func, literal_column, or_, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.events.base import Event
from services.kit import idempotency
from services.kit.db import SqlParams, insert_rows, json_text, outbox_insert_sql
from services.kit.sqlsets import in_array, pair_in_arrays

from ..domain.dossier import (
    Applicant,
    ApplicantKind,
    Attachment,
    Dossier,
    DossierDetail,
    DossierQuery,
    DossierSummary,
    Draft,
    FeeLine,
    Filing,
    HistoryEntry,
    Rating,
    RefusedUpdate,
    SupplementRequest,
)
from ..domain.status import DossierStatus
from .tables import (
    attachments,
    dossier_history,
    dossier_refused_updates,
    dossiers,
    drafts,
    idempotency_keys,
    ratings,
    supplement_requests,
)

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


# --- rows and entities ----------------------------------------------------------------------
# Rows as dicts (statement parameters, JSON columns) stay in this module; entities leave it.


def _applicant_json(applicant: Applicant) -> dict[str, str]:
    return {name: value for name in _APPLICANT_FIELDS if (value := getattr(applicant, name)) is not None}


_APPLICANT_FIELDS = ("kind", "identifier", "name", "phone", "email", "address")


def _applicant(data: Mapping[str, str], kind: ApplicantKind, identifier: str) -> Applicant:
    # Who it is comes from the typed columns; the rest from the JSON the filing stored.
    return Applicant(
        kind=kind, identifier=identifier, name=data.get("name"),
        phone=data.get("phone"), email=data.get("email"), address=data.get("address"),
    )  # fmt: skip


def dossier_of(row: Any) -> Dossier:
    """A ``dossiers`` row as the entity."""
    return Dossier(
        id=str(row.id), code=row.code, origin=row.origin, owner=row.owner,
        applicant=_applicant(row.applicant, row.applicant_kind, row.applicant_identifier),
        applicant_key=row.applicant_key, procedure_code=row.procedure_code, agency_code=row.agency_code,
        status=DossierStatus(row.status), status_changed_at=row.status_changed_at, last_update_at=row.last_update_at,
        service_id=row.service_id, service_version=row.service_version, procedure_name=row.procedure_name,
        document_name=row.document_name, agency_name=row.agency_name, routing_target=row.routing_target,
        form=row.form, fees=[FeeLine(code=f["code"], name=f["name"], amount=int(f["amount"])) for f in row.fees],
        fee_total=row.fee_total, fees_paid_at=row.fees_paid_at, received_at=row.received_at,
        appointment_date=row.appointment_date, finished_at=row.finished_at, returned_at=row.returned_at,
        created_at=row.created_at, lookup_secret=row.lookup_secret,
    )  # fmt: skip


def dossier_row(dossier: Dossier) -> dict[str, object]:
    """The entity as a ``dossiers`` row (but ``created_at``, the database's)."""
    return {
        "id": dossier.id, "code": dossier.code, "origin": dossier.origin, "owner": dossier.owner,
        "applicant_kind": dossier.applicant.kind, "applicant_identifier": dossier.applicant.identifier,
        "applicant_key": dossier.applicant_key, "applicant": _applicant_json(dossier.applicant),
        "service_id": dossier.service_id, "service_version": dossier.service_version,
        "procedure_code": dossier.procedure_code, "procedure_name": dossier.procedure_name,
        "document_name": dossier.document_name, "agency_code": dossier.agency_code,
        "agency_name": dossier.agency_name, "routing_target": dossier.routing_target, "status": int(dossier.status),
        "status_changed_at": dossier.status_changed_at, "last_update_at": dossier.last_update_at,
        "form": dossier.form, "fees": [_fee_json(f) for f in dossier.fees], "fee_total": dossier.fee_total,
        "fees_paid_at": dossier.fees_paid_at, "received_at": dossier.received_at,
        "appointment_date": dossier.appointment_date, "finished_at": dossier.finished_at,
        "returned_at": dossier.returned_at, "lookup_secret": dossier.lookup_secret,
    }  # fmt: skip


class _FeeJson(TypedDict):
    code: str
    name: str
    amount: int


def _fee_json(line: FeeLine) -> _FeeJson:
    return {"code": line.code, "name": line.name, "amount": line.amount}


def _history_row(entry: HistoryEntry) -> dict[str, object]:
    return {"dossier_id": entry.dossier_id, "occurred_at": entry.occurred_at,
            "previous": int(entry.previous) if entry.previous is not None else None, "status": int(entry.status),
            "source": entry.source, "actor": entry.actor, "note": entry.note, "record_id": entry.record_id}  # fmt: skip


def _attachment_of(row: Any) -> Attachment:
    return Attachment(
        id=str(row.id), owner=row.owner, filename=row.filename, content_type=row.content_type, size=row.size,
        sha256=row.sha256, storage_key=row.storage_key,
        dossier_id=str(row.dossier_id) if row.dossier_id is not None else None, component_code=row.component_code,
        supplement_id=row.supplement_id,
    )  # fmt: skip


def _draft_of(row: Any) -> Draft:
    return Draft(id=str(row.id), owner=row.owner, service_id=row.service_id, content=row.content,
                 updated_at=row.updated_at)  # fmt: skip


# --- a submission in one statement ---------------------------------------------------------

Execute = Callable[[Any, SqlParams], Awaitable[Any]]


async def file_dossier(
    execute: Execute, dossier: Dossier, filing: Filing, outbox_params: dict[str, list[Any]]
) -> tuple[bool, str | None]:
    """Write a submitted dossier, its first timeline line and its staged events (see ``_FILE``)
    with ``execute`` (a connection's, or a unit of work's ``execute_alone``).
    ``(offered, code)``: offered False when the service no longer offers that version (nothing
    written); code None when the number was already held by a mirrored dossier."""
    row = dossier_row(dossier)
    params = {name: row[name] for name in FILED_COLUMNS}
    for name in ("applicant", "form", "fees"):
        params[name] = json_text(params[name])
    history = _history_row(filing.history)
    params.update({f"history_{name}": history[name] for name in _HISTORY_COLUMNS})
    params.update(outbox_params, service_revision=filing.service_revision, day=filing.day,
                  code_prefix=filing.code_prefix)  # fmt: skip
    result = (await execute(_FILE, params)).one()
    return bool(result.offered), result.code


# --- dossiers -------------------------------------------------------------------------------

_STATUS_COLUMNS = ("status", "last_update_at", "status_changed_at", "finished_at", "returned_at")
_UPDATE_STATUS = (
    update(dossiers).where(dossiers.c.id == bindparam("_id")).values({c: bindparam(c) for c in _STATUS_COLUMNS})
)


def _status_params(dossier: Dossier) -> dict[str, object]:
    return {"_id": dossier.id, "status": int(dossier.status), "last_update_at": dossier.last_update_at,
            "status_changed_at": dossier.status_changed_at, "finished_at": dossier.finished_at,
            "returned_at": dossier.returned_at}  # fmt: skip


class SqlDossiers:
    def __init__(self, connection: AsyncConnection, execute_alone: Execute,
                 stage: Callable[[Sequence[tuple[Event, str]]], dict[str, list[Any]]]) -> None:  # fmt: skip
        self._connection = connection
        self._execute_alone = execute_alone
        self._stage = stage

    async def get(self, dossier_id: str, *, lock: bool = False) -> Dossier | None:
        query = select(dossiers).where(dossiers.c.id == dossier_id)
        row = (await self._connection.execute(query.with_for_update() if lock else query)).first()
        return dossier_of(row) if row is not None else None

    async def by_code(self, code: str) -> Dossier | None:
        row = (await self._connection.execute(select(dossiers).where(dossiers.c.code == code))).first()
        return dossier_of(row) if row is not None else None

    async def by_codes_locked(self, codes: Sequence[str]) -> dict[str, Dossier]:
        if not codes:
            return {}
        query = (
            select(dossiers).where(in_array(dossiers.c.code, set(codes))).order_by(dossiers.c.code).with_for_update()
        )
        return {row.code: dossier_of(row) for row in await self._connection.execute(query)}

    async def file(self, dossier: Dossier, filing: Filing, *, alone: bool) -> tuple[bool, str | None]:
        execute = self._execute_alone if alone else self._connection.execute
        return await file_dossier(execute, dossier, filing, self._stage(filing.events))

    async def add_many(self, items: Sequence[Dossier]) -> None:
        await insert_rows(self._connection, dossiers, [dossier_row(d) for d in items])

    async def save_status(self, dossier: Dossier) -> None:
        values = {**_status_params(dossier), "fees_paid_at": dossier.fees_paid_at}
        del values["_id"]
        await self._connection.execute(update(dossiers).where(dossiers.c.id == dossier.id).values(**values))

    async def save_statuses(self, items: Sequence[Dossier]) -> None:
        if items:
            await self._connection.execute(_UPDATE_STATUS, [_status_params(d) for d in items])

    async def detail(self, dossier_id: str) -> DossierDetail | None:
        # One statement, one snapshot, no BEGIN and COMMIT: one round trip where four reads took six.
        row = (await self._execute_alone(_DETAIL, {"dossier_id": dossier_id})).first()
        if row is None:
            return None
        return DossierDetail(
            dossier=dossier_of(row),
            documents=[_attachment_of_record(r, str(row.id)) for r in row.detail_documents],
            rating=_rating_of_record(row.detail_rating, str(row.id)) if row.detail_rating is not None else None,
            timeline=[_history_of_record(r, str(row.id)) for r in row.detail_timeline],
        )

    async def summaries(self, query: DossierQuery) -> list[DossierSummary]:
        conditions = []
        if query.owner is not None and query.mirrored_for is not None:
            mirrored = and_(dossiers.c.origin == "mirrored", dossiers.c.applicant_key == query.mirrored_for)
            conditions.append(or_(dossiers.c.owner == query.owner, mirrored))
        elif query.owner is not None:
            conditions.append(dossiers.c.owner == query.owner)
        if query.agencies is not None:
            conditions.append(dossiers.c.agency_code.in_(list(query.agencies)))
        if query.status is not None:
            conditions.append(dossiers.c.status == int(query.status))
        if query.after is not None:
            created, last_id = query.after
            conditions.append(
                or_(dossiers.c.created_at < created, and_(dossiers.c.created_at == created, dossiers.c.id < last_id))
            )
        statement = (
            _SUMMARY.where(*conditions).order_by(dossiers.c.created_at.desc(), dossiers.c.id.desc()).limit(query.limit)
        )
        # One statement, one snapshot: it needs no transaction of its own (no BEGIN and COMMIT).
        rows = await self._execute_alone(statement, {})
        return [
            DossierSummary(str(id_), code, origin, DossierStatus(status), *rest)
            for id_, code, origin, status, *rest in rows
        ]


# A dossier's page in one statement: its row, and its files, rating and timeline as records
# (PostgreSQL row values, which the driver reads with their types), in the order each list shows.
_DOCUMENT_FIELDS = ("id", "owner", "filename", "content_type", "size", "sha256", "storage_key", "component_code",
                    "supplement_id")  # fmt: skip
_TIMELINE_FIELDS = ("occurred_at", "previous", "status", "source", "actor", "note", "record_id")
_DETAIL = select(
    dossiers,
    literal_column(
        f"ARRAY(SELECT ROW({', '.join(f'a.{c}' for c in _DOCUMENT_FIELDS)}) FROM {attachments.name} a "
        f"WHERE a.dossier_id = {dossiers.name}.id ORDER BY a.created_at)"
    ).label("detail_documents"),
    literal_column(
        f"(SELECT ROW(r.score, r.comment, r.rated_at) FROM {ratings.name} r WHERE r.dossier_id = {dossiers.name}.id)"
    ).label("detail_rating"),
    literal_column(
        f"ARRAY(SELECT ROW({', '.join(f'h.{c}' for c in _TIMELINE_FIELDS)}) FROM {dossier_history.name} h "
        f"WHERE h.dossier_id = {dossiers.name}.id ORDER BY h.id)"
    ).label("detail_timeline"),
).where(dossiers.c.id == bindparam("dossier_id"))


def _attachment_of_record(record: Any, dossier_id: str) -> Attachment:
    id_, owner, filename, content_type, size, sha256, storage_key, component_code, supplement_id = record
    return Attachment(id=str(id_), owner=owner, filename=filename, content_type=content_type, size=size,
                      sha256=sha256, storage_key=storage_key, dossier_id=dossier_id, component_code=component_code,
                      supplement_id=supplement_id)  # fmt: skip


def _rating_of_record(record: Any, dossier_id: str) -> Rating:
    score, comment, rated_at = record
    return Rating(dossier_id=dossier_id, score=score, comment=comment, rated_at=rated_at)


def _history_of_record(record: Any, dossier_id: str) -> HistoryEntry:
    occurred_at, previous, status, source, actor, note, record_id = record
    return HistoryEntry(dossier_id=dossier_id, occurred_at=occurred_at,
                        previous=DossierStatus(previous) if previous is not None else None,
                        status=DossierStatus(status), source=source, actor=actor, note=note,
                        record_id=record_id)  # fmt: skip


# A list's columns, in DossierSummary's order: no applicant, form or fee lines to decode.
_SUMMARY = select(*(dossiers.c[f.name] for f in fields(DossierSummary)))


# --- timelines and refusals -----------------------------------------------------------------

_TIMELINE = select(
    dossier_history.c.dossier_id, dossier_history.c.occurred_at, dossier_history.c.previous,
    dossier_history.c.status, dossier_history.c.source, dossier_history.c.actor, dossier_history.c.note,
    dossier_history.c.record_id,
)  # fmt: skip


class SqlTimelines:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, entries: Sequence[HistoryEntry]) -> None:
        await insert_rows(self._connection, dossier_history, [_history_row(e) for e in entries])

    async def of(self, dossier_id: str) -> list[HistoryEntry]:
        query = _TIMELINE.where(dossier_history.c.dossier_id == dossier_id).order_by(dossier_history.c.id)
        return [
            HistoryEntry(
                dossier_id=str(r.dossier_id),
                occurred_at=r.occurred_at,
                previous=DossierStatus(r.previous) if r.previous is not None else None,
                status=DossierStatus(r.status),
                source=r.source,
                actor=r.actor,
                note=r.note,
                record_id=r.record_id,
            )
            for r in await self._connection.execute(query)
        ]

    async def records_seen(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        if not pairs:
            return set()
        query = select(dossier_history.c.dossier_id, dossier_history.c.record_id).where(
            pair_in_arrays(dossier_history.c.dossier_id, dossier_history.c.record_id, set(pairs))
        )
        return {(str(r.dossier_id), r.record_id) for r in await self._connection.execute(query)}


class SqlRefusedUpdates:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, refused: Sequence[RefusedUpdate]) -> None:
        if refused:
            rows = [
                {"dossier_code": r.dossier_code, "dossier_id": r.dossier_id, "source": r.source,
                 "record_id": r.record_id, "reason": r.reason, "detail": r.detail, "payload": r.payload}
                for r in refused
            ]  # fmt: skip
            await self._connection.execute(insert(dossier_refused_updates), rows)


# --- attachments ----------------------------------------------------------------------------


class SqlAttachments:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, attachment: Attachment) -> None:
        await self._connection.execute(
            insert(attachments).values(
                id=attachment.id, owner=attachment.owner, filename=attachment.filename,
                content_type=attachment.content_type, size=attachment.size, sha256=attachment.sha256,
                storage_key=attachment.storage_key,
            )
        )  # fmt: skip

    async def get(self, attachment_id: str) -> Attachment | None:
        row = (await self._connection.execute(select(attachments).where(attachments.c.id == attachment_id))).first()
        return _attachment_of(row) if row is not None else None

    async def lock(self, ids: Sequence[str]) -> list[Attachment]:
        if not ids:
            return []
        query = select(attachments).where(attachments.c.id.in_(list(ids))).order_by(attachments.c.id).with_for_update()
        return [_attachment_of(row) for row in await self._connection.execute(query)]

    async def bind(self, dossier_id: str, components: dict[str, str | None], supplement_id: int | None = None) -> None:
        for attachment_id, component in components.items():
            await self._connection.execute(
                update(attachments)
                .where(attachments.c.id == attachment_id)
                .values(dossier_id=dossier_id, component_code=component, supplement_id=supplement_id)
            )

    async def of(self, dossier_id: str) -> list[Attachment]:
        query = select(attachments).where(attachments.c.dossier_id == dossier_id).order_by(attachments.c.created_at)
        return [_attachment_of(row) for row in await self._connection.execute(query)]


# --- supplements, ratings, drafts -----------------------------------------------------------


class SqlSupplements:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def open_for(self, dossier_id: str) -> SupplementRequest | None:
        query = (
            select(supplement_requests)
            .where(supplement_requests.c.dossier_id == dossier_id, supplement_requests.c.fulfilled_at.is_(None))
            .with_for_update()
        )
        row = (await self._connection.execute(query)).first()
        if row is None:
            return None
        return SupplementRequest(id=row.id, dossier_id=str(row.dossier_id), requested_at=row.requested_at,
                                 note=row.note, fulfilled_at=row.fulfilled_at)  # fmt: skip

    async def request(self, dossier_id: str, requested_at: datetime, note: str | None) -> None:
        statement = insert(supplement_requests).values(dossier_id=dossier_id, requested_at=requested_at, note=note)
        await self._connection.execute(
            statement.on_conflict_do_nothing(
                index_elements=["dossier_id"], index_where=supplement_requests.c.fulfilled_at.is_(None)
            )
        )

    async def fulfil(self, supplement_id: int, at: datetime) -> None:
        await self._connection.execute(
            update(supplement_requests).where(supplement_requests.c.id == supplement_id).values(fulfilled_at=at)
        )


class SqlRatings:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, rating: Rating) -> bool:
        statement = insert(ratings).values(
            dossier_id=rating.dossier_id, score=rating.score, comment=rating.comment, rated_at=rating.rated_at
        )
        result = await self._connection.execute(statement.on_conflict_do_nothing().returning(ratings.c.dossier_id))
        return result.first() is not None


class SqlDrafts:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def save(self, draft: Draft) -> None:
        statement = insert(drafts).values(id=draft.id, owner=draft.owner, service_id=draft.service_id,
                                          content=draft.content)  # fmt: skip
        await self._connection.execute(
            statement.on_conflict_do_update(
                index_elements=["id"],
                set_={"content": statement.excluded.content, "updated_at": func.now()},
                where=drafts.c.owner == statement.excluded.owner,
            )
        )

    async def get(self, draft_id: str) -> Draft | None:
        row = (await self._connection.execute(select(drafts).where(drafts.c.id == draft_id))).first()
        return _draft_of(row) if row is not None else None

    async def of(self, owner: str) -> list[Draft]:
        query = select(drafts).where(drafts.c.owner == owner).order_by(drafts.c.updated_at.desc())
        return [_draft_of(row) for row in await self._connection.execute(query)]

    async def count(self, owner: str) -> int:
        query = select(func.count()).where(drafts.c.owner == owner)
        return int((await self._connection.execute(query)).scalar_one())

    async def delete(self, draft_id: str) -> None:
        await self._connection.execute(drafts.delete().where(drafts.c.id == draft_id))


class SqlIdempotencyKeys:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def replayed(self, owner: str, key: str, fingerprint: str) -> str | None:
        return await idempotency.replayed(self._connection, idempotency_keys, owner, key, fingerprint)

    async def remember(self, owner: str, key: str, fingerprint: str, dossier_id: str) -> None:
        await idempotency.remember(self._connection, idempotency_keys, owner, key, fingerprint, dossier_id)
