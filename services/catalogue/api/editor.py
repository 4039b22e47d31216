"""The editors' API: procedures (``catalogue:admin``), online services and their drafts
(``catalogue:admin``, or ``catalogue:edit`` for officials of the owning agency), publishing,
retiring, the audit trail, and bulk import.

Writes answer ``Cache-Control: no-store``; the public reads stay in ``routes``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import Field

from services.kit.auth import Principal, demands_token
from services.kit.errors import Forbidden
from services.kit.openapi import token_security
from services.kit.schemas import StrictModel

from ..domain.definitions import PROCEDURE_CODE, Editor, ProcedureInput
from ..service import editor, importer
from .dependencies import CatalogueUnitOfWorkDep
from .schemas import (
    AuditTrail,
    EditOutcome,
    ImportReport,
    OnlineServiceCreate,
    OnlineServiceDraftPublic,
    OnlineServiceDraftUpdate,
    ProcedureUpdate,
    PublishOutcome,
    RetireOutcome,
)

EDITOR_SCOPES = frozenset({"catalogue:admin", "catalogue:edit"})


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(dependencies=[Depends(_no_store)])


@demands_token(*({scope} for scope in sorted(EDITOR_SCOPES)))
async def current_editor(request: Request) -> Editor:
    """The verified caller as an :class:`Editor`: needs ``catalogue:admin`` or ``catalogue:edit``."""
    principal: Principal = await request.app.state.verifier.verify_request(request)
    if not principal.scopes & EDITOR_SCOPES:
        raise Forbidden("Missing scope: catalogue:admin or catalogue:edit.")
    agencies = principal.claims.get("agencies") or []
    return Editor(
        actor=principal.subject,
        scopes=principal.scopes,
        agencies=frozenset(a for a in agencies if isinstance(a, str)),
    )


EditorDep = Annotated[Editor, Depends(current_editor)]
# Procedures are the administrators' alone (the use cases refuse other editors).
ADMINISTRATORS = {"security": token_security(["catalogue:admin"])}
ServiceId = Annotated[
    str, Path(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
]
ProcedureCode = Annotated[str, Path(max_length=20, pattern=PROCEDURE_CODE)]


class AuditQuery(StrictModel):
    limit: Annotated[int, Field(ge=1, le=200)] = 50


@router.put("/procedures/{code}", summary="Create or replace a procedure (administrators)",
            openapi_extra=ADMINISTRATORS)  # fmt: skip
async def put_procedure(
    code: ProcedureCode, body: ProcedureUpdate, uow: CatalogueUnitOfWorkDep, who: EditorDep
) -> EditOutcome:
    written = await editor.upsert_procedure(
        uow, who, ProcedureInput.model_validate({**body.model_dump(), "code": code})
    )
    return EditOutcome(id=written.id, outcome=written.outcome)


@router.post("/procedures/{code}/retire", summary="Retire a procedure and its online services (administrators)",
             openapi_extra=ADMINISTRATORS)  # fmt: skip
async def retire_procedure(code: ProcedureCode, uow: CatalogueUnitOfWorkDep, who: EditorDep) -> EditOutcome:
    written = await editor.retire_procedure(uow, who, code)
    return EditOutcome(id=written.id, outcome=written.outcome)


@router.post("/services", status_code=201, summary="Create an online service; its first version is a draft")
async def create_service(
    body: OnlineServiceCreate, uow: CatalogueUnitOfWorkDep, who: EditorDep
) -> OnlineServiceDraftPublic:
    written = await editor.create_service(uow, who, body)
    return OnlineServiceDraftPublic.of(await editor.get_draft(uow, who, written.id))


@router.get("/services/{service_id}/draft", summary="The draft of an online service", operation_id="getServiceDraft")
async def get_draft(service_id: ServiceId, uow: CatalogueUnitOfWorkDep, who: EditorDep) -> OnlineServiceDraftPublic:
    return OnlineServiceDraftPublic.of(await editor.get_draft(uow, who, service_id.lower()))


@router.patch("/services/{service_id}/draft", summary="Change the draft (opened from the latest version if none)",
              operation_id="editServiceDraft")  # fmt: skip
async def edit_draft(
    service_id: ServiceId, body: OnlineServiceDraftUpdate, uow: CatalogueUnitOfWorkDep, who: EditorDep
) -> OnlineServiceDraftPublic:
    return OnlineServiceDraftPublic.of(await editor.edit_draft(uow, who, service_id.lower(), body))


@router.post("/services/{service_id}/publish", summary="Publish the draft as the new current version",
             operation_id="publishService")  # fmt: skip
async def publish(service_id: ServiceId, uow: CatalogueUnitOfWorkDep, who: EditorDep) -> PublishOutcome:
    return PublishOutcome.of(await editor.publish(uow, who, service_id.lower()))


@router.post("/services/{service_id}/retire", summary="Retire an online service (no new dossiers)",
             operation_id="retireService")  # fmt: skip
async def retire(service_id: ServiceId, uow: CatalogueUnitOfWorkDep, who: EditorDep) -> RetireOutcome:
    return RetireOutcome.of(await editor.retire(uow, who, service_id.lower()))


@router.get("/services/{service_id}/audit", summary="Who changed this online service, newest first",
            operation_id="getServiceAudit")  # fmt: skip
async def service_audit(
    service_id: ServiceId, query: Annotated[AuditQuery, Query()], uow: CatalogueUnitOfWorkDep, who: EditorDep
) -> AuditTrail:
    return AuditTrail.of(await editor.audit_trail(uow, who, f"service:{service_id.lower()}", query.limit))


@router.get("/procedures/{code}/audit", summary="Who changed this procedure, newest first (administrators)",
            operation_id="getProcedureAudit", openapi_extra=ADMINISTRATORS)  # fmt: skip
async def procedure_audit(
    code: ProcedureCode, query: Annotated[AuditQuery, Query()], uow: CatalogueUnitOfWorkDep, who: EditorDep
) -> AuditTrail:
    return AuditTrail.of(await editor.audit_trail(uow, who, f"procedure:{code}", query.limit))


@router.post(
    "/imports",
    summary="Bulk import of agencies, procedures and online services (JSON or CSV)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": 'JSON: `{"agencies": [...], "procedures": [...], "services": [...]}`, each row an '
            "object of its kind's fields. CSV: UTF-8, one kind of row (`kind`, or the first kind whose columns its "
            "header names): a header line naming columns of that kind, then one row a line; lists and the form "
            "schema as JSON in their cells; an empty file holds no rows. Each row is judged on its own.",
            "content": {
                # Each row is read by the model of its kind (unknown fields refused, per row).
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {kind: {"type": "array", "items": {"type": "object"}} for kind in importer.KINDS},
                        "additionalProperties": False,
                    }
                },
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def import_catalogue(
    request: Request,
    query: Annotated[importer.ImportQuery, Query()],
    uow: CatalogueUnitOfWorkDep,
    who: EditorDep,
) -> ImportReport:
    """Upsert by code, row by row: each row is created, updated, unchanged or rejected (with the
    field and the reason); a rejected row changes nothing, the others apply. With ``dry_run``
    nothing is written. JSON: ``{"agencies": [...], "procedures": [...], "services": [...]}``;
    CSV: one kind per file (``kind``), lists and the form schema as JSON in their cells."""
    body = await request.body()
    batch = importer.parse(body, request.headers.get("content-type", ""), query.kind)
    report = await importer.run(uow, who, batch, dry_run=query.dry_run)
    return ImportReport.of(report)
