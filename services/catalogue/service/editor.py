"""Use cases of the catalogue's editors: procedures (administrators), online services and
their drafts (administrators, and officials for their own agencies), publishing and retiring.

Every change is written to the audit trail; every change citizens or other services can see
is published as an event in the same transaction (the outbox), carrying the whole definition
and the aggregate's new revision.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from contracts.events.catalogue import Agency as AgencyOfEvent
from contracts.events.catalogue import (
    OnlineServicePublished,
    OnlineServiceRetired,
    ProcedureDefinition,
    ProcedurePublished,
    ProcedureRetired,
)
from services.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.kit.logging import request_id_var

from ..domain.definitions import (
    AgencyInput,
    Editor,
    ProcedureInput,
    ServiceDraftChanges,
    ServiceInput,
    service_id,
)
from ..domain.model import (
    PROCEDURE_FIELDS,
    VERSION_FIELDS,
    AuditEntry,
    Changes,
    OnlineService,
    Procedure,
    Sector,
    ServiceStatus,
    ServiceVersion,
)
from .unit_of_work import CatalogueUnitOfWork


class Outcome(StrEnum):
    """What a write did: the import report speaks these words too."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Written:
    outcome: Outcome
    id: str


@dataclass(frozen=True, slots=True)
class ServiceState:
    """An online service after it was published or retired; ``changed`` is False when retiring
    found it retired already."""

    service_id: str
    status: ServiceStatus
    revision: int
    version: int | None = None
    changed: bool = True


def _now() -> datetime:
    return datetime.now(UTC)


async def _audit(uow: CatalogueUnitOfWork, editor: Editor, action: str, entity: str, changes: Changes) -> None:
    entry = AuditEntry(at=_now(), actor=editor.actor, action=action, entity=entity, changes=changes,
                       request_id=request_id_var.get())  # fmt: skip
    await uow.audit.record(entry)


class UnknownReference(Conflict):
    """A write names a sector, procedure or agency the catalogue does not have (or no longer
    offers): the request is well formed but conflicts with the catalogue as it is, and the same
    request succeeds once what it names exists (for a sector: or with ``sector_name``)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, errors=[{"field": field, "location": "body", "message": detail}])


def _field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": field, "location": "body", "message": message}])


# --- procedures -----------------------------------------------------------------------------


def definition_of(procedure: Procedure) -> ProcedureDefinition:
    """The procedure as the events carry it."""
    return ProcedureDefinition(
        code=procedure.code, name=procedure.name, sector_code=procedure.sector_code,
        sector_name=procedure.sector_name, level=procedure.level.value, steps=procedure.steps,
        documents=procedure.documents, processing_days=procedure.processing_days, fees=procedure.fees,
        legal_basis=procedure.legal_basis, results=procedure.results,
    )  # fmt: skip


async def _sector_of(uow: CatalogueUnitOfWork, data: ProcedureInput) -> Sector:
    """The procedure's sector; created when the input names it and it is new."""
    sector = await uow.sectors.get(data.sector_code)
    if sector is not None:
        return sector
    if data.sector_name is None:
        raise UnknownReference("sector_code", f"Unknown sector {data.sector_code}; give sector_name to create it.")
    sector = Sector(data.sector_code, data.sector_name)
    await uow.sectors.ensure(sector)
    return sector


async def upsert_procedure(uow: CatalogueUnitOfWork, editor: Editor, data: ProcedureInput) -> Written:
    """Create or change a procedure; it is active afterwards. A change nobody could see
    (same fields) writes nothing and publishes nothing."""
    if not editor.may_edit_procedures():
        raise Forbidden("Only catalogue administrators edit procedures.")
    sector = await _sector_of(uow, data)
    wanted = data.procedure(sector.name)
    faq = data.faq_entries()
    current = await uow.procedures.get(data.code, lock=True)
    if current is not None and current.is_active and current.same_definition(wanted):
        if faq != await uow.procedures.faq(data.code):
            await uow.procedures.replace_faq(data.code, faq)
            changes = {"faq": [entry.model_dump() for entry in data.faq]}
            await _audit(uow, editor, "procedure.faq.replaced", f"procedure:{data.code}", changes)
            return Written(Outcome.UPDATED, data.code)
        return Written(Outcome.UNCHANGED, data.code)
    procedure = wanted if current is None else current
    procedure.define(wanted)
    await uow.procedures.save(procedure)
    await uow.procedures.replace_faq(data.code, faq)
    event = ProcedurePublished(revision=procedure.revision, procedure=definition_of(procedure), published_at=_now())
    await uow.emit(event, key=data.code)
    await uow.search.refresh_procedures([data.code])
    await uow.search.refresh_services(await uow.services.published_of(data.code))
    outcome = Outcome.CREATED if current is None else Outcome.UPDATED
    values = data.model_dump(mode="json", include=set(PROCEDURE_FIELDS))
    await _audit(uow, editor, f"procedure.{outcome}", f"procedure:{data.code}", values)
    return Written(outcome, data.code)


async def retire_procedure(uow: CatalogueUnitOfWork, editor: Editor, code: str) -> Written:
    """The procedure is no longer carried out: it and every online service of it are retired."""
    if not editor.may_edit_procedures():
        raise Forbidden("Only catalogue administrators edit procedures.")
    procedure = await uow.procedures.get(code, lock=True)
    if procedure is None:
        raise NotFound(f"No procedure {code}.")
    if not procedure.is_active:
        return Written(Outcome.UNCHANGED, code)
    for sid in await uow.services.published_of(code):
        await _retire_service(uow, editor, sid)
    procedure.retire()
    await uow.procedures.save(procedure)
    await uow.emit(ProcedureRetired(revision=procedure.revision, code=code, retired_at=_now()), key=code)
    await uow.search.refresh_procedures([code])
    await _audit(uow, editor, "procedure.retired", f"procedure:{code}", {"status": "retired"})
    return Written(Outcome.UPDATED, code)


# --- online services ------------------------------------------------------------------------


async def procedure_exists(uow: CatalogueUnitOfWork, code: str) -> bool:
    return await uow.procedures.get(code, lock=True) is not None


async def service_exists(uow: CatalogueUnitOfWork, sid: str) -> bool:
    return await uow.services.get(sid, lock=True) is not None


async def _service_for_editing(uow: CatalogueUnitOfWork, editor: Editor, sid: str) -> OnlineService:
    """The service, locked, once the editor is known to be allowed to touch it."""
    service = await uow.services.get(sid, lock=True)
    if service is None:
        raise NotFound(f"No online service {sid}.")
    if not editor.may_edit_service_of(service.agency_code):
        # Officials of other agencies learn nothing more than that they may not.
        raise Forbidden("You may edit only the online services of your own agency.")
    return service


async def create_service(uow: CatalogueUnitOfWork, editor: Editor, data: ServiceInput) -> Written:
    """A new online service with its first version as a draft (published by :func:`publish`)."""
    if not editor.may_edit_service_of(data.agency_code):
        raise Forbidden("You may create online services only for your own agency.")
    procedure = await uow.procedures.get(data.procedure_code, lock=True)
    if procedure is None or not procedure.is_active:
        raise UnknownReference("procedure_code", f"No active procedure {data.procedure_code}.")
    if await uow.agencies.get(data.agency_code) is None:
        raise UnknownReference("agency_code", f"No agency {data.agency_code}.")
    sid = service_id(data.procedure_code, data.agency_code)
    if await uow.services.get(sid, lock=True) is not None:
        raise Conflict(f"Agency {data.agency_code} already offers procedure {data.procedure_code}.", service_id=sid)
    await uow.services.add(OnlineService(sid, data.procedure_code, data.agency_code))
    await uow.services.add_version(ServiceVersion(sid, 1, data.definition()))
    definition = data.model_dump(mode="json", include=set(VERSION_FIELDS))
    await _audit(uow, editor, "service.created", f"service:{sid}",
                 {"procedure_code": data.procedure_code, "agency_code": data.agency_code, **definition})  # fmt: skip
    return Written(Outcome.CREATED, sid)


async def _open_draft(uow: CatalogueUnitOfWork, sid: str) -> ServiceVersion:
    """The draft of ``sid``; one copied from its latest version when none is open."""
    draft = await uow.services.draft(sid)
    if draft is not None:
        return draft
    latest = await uow.services.latest(sid)
    assert latest is not None, "an online service always has a version"
    draft = ServiceVersion(sid, latest.version + 1, latest.definition)
    await uow.services.add_version(draft)
    return draft


async def edit_draft(
    uow: CatalogueUnitOfWork, editor: Editor, sid: str, changes: ServiceDraftChanges
) -> ServiceVersion:
    """Change fields of the service's draft (opened from its latest version if needed)."""
    await _service_for_editing(uow, editor, sid)
    return await _edit_draft(uow, editor, sid, changes)


async def _edit_draft(
    uow: CatalogueUnitOfWork, editor: Editor, sid: str, changes: ServiceDraftChanges
) -> ServiceVersion:
    draft = await _open_draft(uow, sid)
    given = changes.model_dump(mode="json", include=set(changes.given()))
    if not given:
        raise _field_error("body", "Name at least one field to change.")
    definition = changes.apply_to(draft.definition)
    await uow.services.update_draft(sid, draft.version, definition)
    await _audit(uow, editor, "service.draft.edited", f"service:{sid}", {"version": draft.version, **given})
    return ServiceVersion(sid, draft.version, definition)


async def get_draft(uow: CatalogueUnitOfWork, editor: Editor, sid: str) -> ServiceVersion:
    await _service_for_editing(uow, editor, sid)
    draft = await uow.services.draft(sid)
    if draft is None:
        raise NotFound(f"Online service {sid} has no draft.")
    return draft


async def publish(uow: CatalogueUnitOfWork, editor: Editor, sid: str) -> ServiceState:
    """The draft becomes the version citizens file under; earlier versions stay readable."""
    service = await _service_for_editing(uow, editor, sid)
    draft = await uow.services.draft(sid)
    if draft is None:
        raise Conflict(f"Online service {sid} has no draft to publish.")
    procedure = await uow.procedures.get(service.procedure_code, lock=True)
    assert procedure is not None
    if not procedure.is_active:
        raise Conflict(f"Procedure {procedure.code} is retired; its services cannot be published.")
    service.publish(draft.version)
    await uow.services.mark_published(sid, draft.version)
    await uow.services.save(service)
    agency = await uow.agencies.get(service.agency_code)
    assert agency is not None
    terms = draft.definition
    event = OnlineServicePublished(
        revision=service.revision, service_id=sid, version=draft.version, procedure=definition_of(procedure),
        agency=AgencyOfEvent(code=agency.code, name=agency.name, province_code=agency.province_code),
        online_level=terms.online_level.value, form_schema=terms.form_schema, fees=terms.fees,
        processing_days=terms.processing_days, routing_target=terms.routing_target, published_at=_now(),
        required_acr=terms.required_acr,
    )  # fmt: skip
    await uow.emit(event, key=sid)
    await uow.search.refresh_services([sid])
    await _audit(uow, editor, "service.published", f"service:{sid}", {"version": draft.version})
    return ServiceState(sid, service.status, service.revision, draft.version)


async def _retire_service(uow: CatalogueUnitOfWork, editor: Editor, sid: str) -> ServiceState:
    service = await _service_for_editing(uow, editor, sid)
    if not service.retire():
        return ServiceState(sid, service.status, service.revision, changed=False)
    await uow.services.save(service)
    if service.published_version is not None:  # consumers never heard of a service never published
        event = OnlineServiceRetired(
            revision=service.revision, service_id=sid, last_version=service.published_version, retired_at=_now()
        )
        await uow.emit(event, key=sid)
    await uow.search.refresh_services([sid])
    await _audit(uow, editor, "service.retired", f"service:{sid}", {"status": "retired"})
    return ServiceState(sid, service.status, service.revision)


async def retire(uow: CatalogueUnitOfWork, editor: Editor, sid: str) -> ServiceState:
    """The service takes no new dossiers; those already filed continue. Retiring twice is a no-op."""
    return await _retire_service(uow, editor, sid)


async def put_service(
    uow: CatalogueUnitOfWork, editor: Editor, data: ServiceInput, *, keep_existing: bool = False
) -> Written:
    """Make the published service of (procedure, agency) be ``data``: created and published,
    published anew when its definition differs, untouched when equal (the import's upsert).
    With ``keep_existing`` an existing service is left as it is (the fixtures)."""
    sid = service_id(data.procedure_code, data.agency_code)
    existing = await uow.services.get(sid, lock=True)
    if existing is None:
        await create_service(uow, editor, data)
        await publish(uow, editor, sid)
        return Written(Outcome.CREATED, sid)
    await _service_for_editing(uow, editor, sid)
    if keep_existing:
        return Written(Outcome.UNCHANGED, sid)
    wanted = data.definition()
    current = await uow.services.detail(sid, None)
    if current is not None and "required_acr" not in data.model_fields_set:
        # A row that does not name the level keeps the service's: never lowered by leaving it out.
        wanted = replace(wanted, required_acr=current.required_acr)
    if existing.status == ServiceStatus.PUBLISHED and current is not None and current.definition() == wanted:
        return Written(Outcome.UNCHANGED, sid)
    changes = ServiceDraftChanges.model_construct(**{name: getattr(wanted, name) for name in VERSION_FIELDS})
    await _edit_draft(uow, editor, sid, changes)
    await publish(uow, editor, sid)
    return Written(Outcome.UPDATED, sid)


async def audit_trail(uow: CatalogueUnitOfWork, editor: Editor, entity: str, limit: int) -> list[AuditEntry]:
    """The latest changes of ``procedure:<code>`` or ``service:<id>``, newest first."""
    kind, _, key = entity.partition(":")
    if kind == "service":
        await _service_for_editing(uow, editor, key)
    elif not editor.may_edit_procedures():
        raise Forbidden("Only catalogue administrators read the audit trail of procedures.")
    return await uow.audit.of(entity, limit)


async def upsert_agency(uow: CatalogueUnitOfWork, editor: Editor, data: AgencyInput) -> Written:
    """Create or change an agency of the hierarchy (administrators); its parent must exist."""
    if not editor.is_admin:
        raise Forbidden("Only catalogue administrators edit agencies.")
    if data.parent_code is not None and await uow.agencies.get(data.parent_code) is None:
        raise UnknownReference("parent_code", f"No agency {data.parent_code}.")
    wanted = data.agency()
    current = await uow.agencies.get(data.code)
    if current == wanted:
        return Written(Outcome.UNCHANGED, data.code)
    await uow.agencies.save(wanted)
    outcome = Outcome.CREATED if current is None else Outcome.UPDATED
    await _audit(uow, editor, f"agency.{outcome}", f"agency:{data.code}", data.model_dump(mode="json"))
    return Written(outcome, data.code)
