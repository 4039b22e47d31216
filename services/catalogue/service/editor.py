"""Use cases of the catalogue's editors: procedures (administrators), online services and
their drafts (administrators, and officials for their own agencies), publishing and retiring.

Every change is written to the audit trail; every change citizens or other services can see
is published as an event in the same transaction (the outbox), carrying the whole definition
and the aggregate's new revision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from contracts.events.catalogue import (
    Agency,
    Fee,
    OnlineServicePublished,
    OnlineServiceRetired,
    ProcedureDefinition,
    ProcedurePublished,
    ProcedureRetired,
)
from services.kit.db import UnitOfWork
from services.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.kit.logging import request_id_var

from ..adapters import repository as repo
from ..adapters import search
from ..domain.definitions import (
    AgencyInput,
    Editor,
    ProcedureInput,
    ServiceDraftChanges,
    ServiceInput,
    service_id,
)

PROCEDURE_PUBLISHED = ProcedurePublished.TYPE
PROCEDURE_RETIRED = ProcedureRetired.TYPE
SERVICE_PUBLISHED = OnlineServicePublished.TYPE
SERVICE_RETIRED = OnlineServiceRetired.TYPE

VERSION_FIELDS = ("online_level", "form_schema", "fees", "processing_days", "routing_target")
PROCEDURE_FIELDS = ("name", "sector_code", "level", "steps", "documents", "processing_days", "fees", "legal_basis",
                    "results")  # fmt: skip


class Outcome(StrEnum):
    """What a write did: the import report speaks these words too."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Written:
    outcome: Outcome
    id: str


def _now() -> datetime:
    return datetime.now(UTC)


async def _audit(uow: UnitOfWork, editor: Editor, action: str, entity: str, changes: dict[str, Any]) -> None:
    await repo.record_audit(
        uow.connection,
        {"actor": editor.actor, "action": action, "entity": entity, "changes": changes,
         "request_id": request_id_var.get()},
    )  # fmt: skip


def _field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": field, "location": "body", "message": message}])


# --- procedures -----------------------------------------------------------------------------


def _procedure_definition(row: dict[str, Any]) -> ProcedureDefinition:
    return ProcedureDefinition.model_validate({f: row[f] for f in ("code", "sector_name", *PROCEDURE_FIELDS)})


async def upsert_procedure(uow: UnitOfWork, editor: Editor, data: ProcedureInput) -> Written:
    """Create or change a procedure; it is active afterwards. A change nobody could see
    (same fields) writes nothing and publishes nothing."""
    if not editor.may_edit_procedures():
        raise Forbidden("Only catalogue administrators edit procedures.")
    session = uow.connection
    if data.sector_name is not None:
        await repo.ensure_sector(session, data.sector_code, data.sector_name)
    elif not await repo.sector_exists(session, data.sector_code):
        raise _field_error("sector_code", f"Unknown sector {data.sector_code}; give sector_name to create it.")
    values = data.model_dump(mode="json", include=set(PROCEDURE_FIELDS))
    current = await repo.lock_procedure(session, data.code)
    faq = [entry.model_dump() for entry in data.faq]
    if current is not None and current["status"] == "active" and {f: current[f] for f in PROCEDURE_FIELDS} == values:
        if faq != await repo.faqs_of(session, data.code):
            await repo.replace_faqs(session, data.code, faq)
            await _audit(uow, editor, "procedure.faq.replaced", f"procedure:{data.code}", {"faq": faq})
            return Written(Outcome.UPDATED, data.code)
        return Written(Outcome.UNCHANGED, data.code)
    revision = 1 if current is None else current["revision"] + 1
    await repo.write_procedure(session, {"code": data.code, **values, "status": "active", "revision": revision})
    await repo.replace_faqs(session, data.code, faq)
    row = await repo.lock_procedure(session, data.code)
    assert row is not None
    await uow.emit(
        ProcedurePublished(revision=revision, procedure=_procedure_definition(row), published_at=_now()),
        key=data.code,
    )
    await search.refresh_procedure_search(session, [data.code])
    await search.refresh_service_search(session, await repo.published_services_of(session, data.code))
    outcome = Outcome.CREATED if current is None else Outcome.UPDATED
    await _audit(uow, editor, f"procedure.{outcome}", f"procedure:{data.code}", values)
    return Written(outcome, data.code)


async def retire_procedure(uow: UnitOfWork, editor: Editor, code: str) -> Written:
    """The procedure is no longer carried out: it and every online service of it are retired."""
    if not editor.may_edit_procedures():
        raise Forbidden("Only catalogue administrators edit procedures.")
    current = await repo.lock_procedure(uow.connection, code)
    if current is None:
        raise NotFound(f"No procedure {code}.")
    if current["status"] == "retired":
        return Written(Outcome.UNCHANGED, code)
    for sid in await repo.published_services_of(uow.connection, code):
        await _retire_service(uow, editor, sid)
    revision = current["revision"] + 1
    await repo.write_procedure(
        uow.connection,
        {**{f: current[f] for f in ("code", *PROCEDURE_FIELDS)}, "status": "retired", "revision": revision},
    )
    await uow.emit(ProcedureRetired(revision=revision, code=code, retired_at=_now()), key=code)
    await search.refresh_procedure_search(uow.connection, [code])
    await _audit(uow, editor, "procedure.retired", f"procedure:{code}", {"status": "retired"})
    return Written(Outcome.UPDATED, code)


# --- online services ------------------------------------------------------------------------


async def procedure_exists(uow: UnitOfWork, code: str) -> bool:
    return await repo.lock_procedure(uow.connection, code) is not None


async def service_exists(uow: UnitOfWork, sid: str) -> bool:
    return await repo.lock_service(uow.connection, sid) is not None


async def _service_for_editing(uow: UnitOfWork, editor: Editor, sid: str) -> dict[str, Any]:
    """The service, locked, once the editor is known to be allowed to touch it."""
    service = await repo.lock_service(uow.connection, sid)
    if service is None:
        raise NotFound(f"No online service {sid}.")
    if not editor.may_edit_service_of(service["agency_code"]):
        # Officials of other agencies learn nothing more than that they may not.
        raise Forbidden("You may edit only the online services of your own agency.")
    return service


async def create_service(uow: UnitOfWork, editor: Editor, data: ServiceInput) -> Written:
    """A new online service with its first version as a draft (published by :func:`publish`)."""
    if not editor.may_edit_service_of(data.agency_code):
        raise Forbidden("You may create online services only for your own agency.")
    procedure = await repo.lock_procedure(uow.connection, data.procedure_code)
    if procedure is None or procedure["status"] != "active":
        raise _field_error("procedure_code", f"No active procedure {data.procedure_code}.")
    if await repo.agency_row(uow.connection, data.agency_code) is None:
        raise _field_error("agency_code", f"No agency {data.agency_code}.")
    sid = service_id(data.procedure_code, data.agency_code)
    if await repo.lock_service(uow.connection, sid) is not None:
        raise Conflict(f"Agency {data.agency_code} already offers procedure {data.procedure_code}.", service_id=sid)
    await repo.insert_service(
        uow.connection,
        {"id": sid, "procedure_code": data.procedure_code, "agency_code": data.agency_code, "status": "draft",
         "published_version": None, "revision": 0},
    )  # fmt: skip
    definition = data.model_dump(mode="json", include=set(VERSION_FIELDS))
    await repo.insert_version(uow.connection, {"service_id": sid, "version": 1, **definition, "published_at": None})
    await _audit(uow, editor, "service.created", f"service:{sid}",
                 {"procedure_code": data.procedure_code, "agency_code": data.agency_code, **definition})  # fmt: skip
    return Written(Outcome.CREATED, sid)


async def _open_draft(uow: UnitOfWork, sid: str) -> dict[str, Any]:
    """The draft of ``sid``; one copied from its latest version when none is open."""
    draft = await repo.draft_of(uow.connection, sid)
    if draft is not None:
        return draft
    latest = await repo.latest_version(uow.connection, sid)
    assert latest is not None, "an online service always has a version"
    draft = {**{f: latest[f] for f in VERSION_FIELDS}, "service_id": sid, "version": latest["version"] + 1}
    await repo.insert_version(uow.connection, {**draft, "published_at": None})
    return {**draft, "published_at": None}


async def edit_draft(uow: UnitOfWork, editor: Editor, sid: str, changes: ServiceDraftChanges) -> dict[str, Any]:
    """Change fields of the service's draft (opened from its latest version if needed)."""
    await _service_for_editing(uow, editor, sid)
    draft = await _open_draft(uow, sid)
    # Only the top level's None means "left out": a fee's ``condition: null`` is kept, so what
    # is stored compares equal to what an import gives next time.
    given = {f: v for f, v in changes.model_dump(mode="json", exclude_unset=True).items() if v is not None}
    if not given:
        raise _field_error("body", "Name at least one field to change.")
    merged = {f: given.get(f, draft[f]) for f in VERSION_FIELDS}
    await repo.update_draft(uow.connection, sid, draft["version"], given)
    await _audit(uow, editor, "service.draft.edited", f"service:{sid}", {"version": draft["version"], **given})
    return _draft_view(sid, {**draft, **merged})


async def get_draft(uow: UnitOfWork, editor: Editor, sid: str) -> dict[str, Any]:
    await _service_for_editing(uow, editor, sid)
    draft = await repo.draft_of(uow.connection, sid)
    if draft is None:
        raise NotFound(f"Online service {sid} has no draft.")
    return _draft_view(sid, draft)


def _draft_view(sid: str, draft: dict[str, Any]) -> dict[str, Any]:
    return {"service_id": sid, "version": draft["version"], **{f: draft[f] for f in VERSION_FIELDS}}


async def publish(uow: UnitOfWork, editor: Editor, sid: str) -> dict[str, Any]:
    """The draft becomes the version citizens file under; earlier versions stay readable."""
    service = await _service_for_editing(uow, editor, sid)
    draft = await repo.draft_of(uow.connection, sid)
    if draft is None:
        raise Conflict(f"Online service {sid} has no draft to publish.")
    procedure = await repo.lock_procedure(uow.connection, service["procedure_code"])
    assert procedure is not None
    if procedure["status"] != "active":
        raise Conflict(f"Procedure {procedure['code']} is retired; its services cannot be published.")
    revision = service["revision"] + 1
    await repo.publish_version(uow.connection, sid, draft["version"], revision)
    agency = await repo.agency_row(uow.connection, service["agency_code"])
    assert agency is not None
    event = OnlineServicePublished(
        revision=revision,
        service_id=sid,
        version=draft["version"],
        procedure=_procedure_definition(procedure),
        agency=Agency(code=agency["code"], name=agency["name"], province_code=agency["province_code"]),
        **{f: draft[f] for f in VERSION_FIELDS},
        published_at=_now(),
    )
    await uow.emit(event, key=sid)
    await search.refresh_service_search(uow.connection, [sid])
    await _audit(uow, editor, "service.published", f"service:{sid}", {"version": draft["version"]})
    return {"service_id": sid, "status": "published", "version": draft["version"], "revision": revision}


async def _retire_service(uow: UnitOfWork, editor: Editor, sid: str) -> dict[str, Any]:
    service = await _service_for_editing(uow, editor, sid)
    if service["status"] == "retired":
        return {"service_id": sid, "status": "retired", "revision": service["revision"], "changed": False}
    revision = service["revision"] + 1
    await repo.set_service_state(uow.connection, sid, status="retired", revision=revision)
    if service["published_version"] is not None:  # consumers never heard of a service never published
        event = OnlineServiceRetired(
            revision=revision, service_id=sid, last_version=service["published_version"], retired_at=_now()
        )
        await uow.emit(event, key=sid)
    await search.refresh_service_search(uow.connection, [sid])
    await _audit(uow, editor, "service.retired", f"service:{sid}", {"status": "retired"})
    return {"service_id": sid, "status": "retired", "revision": revision, "changed": True}


async def retire(uow: UnitOfWork, editor: Editor, sid: str) -> dict[str, Any]:
    """The service takes no new dossiers; those already filed continue. Retiring twice is a no-op."""
    return await _retire_service(uow, editor, sid)


async def put_service(uow: UnitOfWork, editor: Editor, data: ServiceInput, *, keep_existing: bool = False) -> Written:
    """Make the published service of (procedure, agency) be ``data``: created and published,
    published anew when its definition differs, untouched when equal (the import's upsert).
    With ``keep_existing`` an existing service is left as it is (the fixtures)."""
    sid = service_id(data.procedure_code, data.agency_code)
    existing = await repo.lock_service(uow.connection, sid)
    if existing is None:
        await create_service(uow, editor, data)
        await publish(uow, editor, sid)
        return Written(Outcome.CREATED, sid)
    await _service_for_editing(uow, editor, sid)
    if keep_existing:
        return Written(Outcome.UNCHANGED, sid)
    wanted = data.model_dump(mode="json", include=set(VERSION_FIELDS))
    current = await repo.service_with_version(uow.connection, sid, None)
    if existing["status"] == "published" and current is not None and _as_written(current) == wanted:
        return Written(Outcome.UNCHANGED, sid)
    await edit_draft(uow, editor, sid, ServiceDraftChanges.model_validate(wanted))
    await publish(uow, editor, sid)
    return Written(Outcome.UPDATED, sid)


def _as_written(version: dict[str, Any]) -> dict[str, Any]:
    """A stored version's definition as a write spells it (every fee with all its keys, even one
    stored before ``condition: null`` was kept), so an equal write compares equal."""
    return {**{f: version[f] for f in VERSION_FIELDS}, "fees": [with_all_keys(fee) for fee in version["fees"]]}


def with_all_keys(fee: dict[str, Any]) -> dict[str, Any]:
    """A stored fee with the keys of the contract's :class:`Fee` it may lack (their defaults)."""
    return {**FEE_DEFAULTS, **fee}


FEE_DEFAULTS = {name: spec.default for name, spec in Fee.model_fields.items() if not spec.is_required()}


async def audit_trail(uow: UnitOfWork, editor: Editor, entity: str, limit: int) -> list[dict[str, Any]]:
    """The latest changes of ``procedure:<code>`` or ``service:<id>``, newest first."""
    kind, _, key = entity.partition(":")
    if kind == "service":
        await _service_for_editing(uow, editor, key)
    elif not editor.may_edit_procedures():
        raise Forbidden("Only catalogue administrators read the audit trail of procedures.")
    rows = await repo.audit_of(uow.connection, entity, limit)
    return [{**row, "at": row["at"].isoformat()} for row in rows]


async def upsert_agency(uow: UnitOfWork, editor: Editor, data: AgencyInput) -> Written:
    """Create or change an agency of the hierarchy (administrators); its parent must exist."""
    if not editor.is_admin:
        raise Forbidden("Only catalogue administrators edit agencies.")
    if data.parent_code is not None and await repo.agency_row(uow.connection, data.parent_code) is None:
        raise _field_error("parent_code", f"No agency {data.parent_code}.")
    values = data.model_dump(mode="json")
    current = await repo.agency_row(uow.connection, data.code)
    if current is not None and {k: current[k] for k in values} == values:
        return Written(Outcome.UNCHANGED, data.code)
    await repo.write_agency(uow.connection, values)
    outcome = Outcome.CREATED if current is None else Outcome.UPDATED
    await _audit(uow, editor, f"agency.{outcome}", f"agency:{data.code}", values)
    return Written(outcome, data.code)
