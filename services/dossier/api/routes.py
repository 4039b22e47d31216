"""The dossier API: attachments, drafts, submission and receipt (``dossier:submit``), the
owner's and officials' reads (``dossier:read``), the owner's supplement, withdrawal and
rating, the public lookup by code and verifier (no token), and the public statistics per agency
and period with the service-quality index (no token; cacheable).

Another person's dossier, file or draft is answered with the same 404 as one that does not
exist. Bodies refuse unknown fields; every list, string and file is bounded.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cached_property
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Path, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import Field, ValidationError

from contracts.json import OpenApi
from contracts.services import service
from services.kit import idempotency
from services.kit.auth import Principal, demands_acr, require_scopes
from services.kit.caching import NOT_MODIFIED, cached_json
from services.kit.calendar import WorkingCalendar, calendar_of
from services.kit.errors import ValidationFailed
from services.kit.files import FileKind
from services.kit.http import FastJSONResponse, stored_file
from services.kit.openapi import binary_content
from services.kit.pagination import Cursor, link_next, page_response, page_size
from services.kit.schemas import UUID_PATTERN
from services.kit.storage import FileStorage, storage_of

from ..domain.access import Caller
from ..domain.codes import DOSSIER_CODE_MAX_LENGTH
from ..domain.mandates import READ, SUBMIT
from ..domain.status import DossierStatus
from ..service import catalogue_view, intake, mandates, statistics, tracking
from ..service import lookup as public_lookup
from ..service.intake import AttachmentRef as AttachmentRefValue
from ..service.unit_of_work import DossierUnitOfWork
from ..settings import DossierSettings
from .dependencies import DossierUnitOfWorkDep
from .schemas import (
    AttachmentPublic,
    DossierCreate,
    DossierLookupPublic,
    DossierPublic,
    DossierReceiptPublic,
    DossierSummaryPage,
    DossierSummaryPublic,
    DraftCreate,
    DraftListPublic,
    DraftPublic,
    DraftSummaryPublic,
    HistoryEntryPublic,
    RatingCreate,
    RatingPublic,
    StatisticsPage,
    SupplementCreate,
    TimelinePublic,
    WithdrawalCreate,
)

SERVICE_PREFIX = service("dossier").api_prefix
router = APIRouter(tags=["dossier"])

Id = Annotated[str, Path(pattern=UUID_PATTERN)]
MAX_PAGE = 100


# The kit builds the unit the service spec names (``adapters.unit_of_work``): the dossier unit.
class Runtime:
    """What the routes need besides the unit of work, made once per app from its settings."""

    def __init__(self, settings: DossierSettings):
        self.settings = settings

    @cached_property
    def storage(self) -> FileStorage:
        return storage_of(self.settings)

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return calendar_of(self.settings)

    @cached_property
    def limits(self) -> intake.Limits:
        s = self.settings
        return intake.Limits(s.max_attachment_bytes, s.max_attachments_per_dossier, s.max_form_bytes,
                             s.max_drafts_per_owner)  # fmt: skip

    @cached_property
    def lookup_limits(self) -> public_lookup.LookupLimits:
        s = self.settings
        return public_lookup.LookupLimits(s.lookup_max_failures_per_code, s.lookup_max_failures_per_address,
                                          s.lookup_window_seconds)  # fmt: skip

    @cached_property
    def offered(self) -> catalogue_view.OfferedCache:
        return catalogue_view.OfferedCache()

    @cached_property
    def issuer(self) -> intake.Issuer:
        s = self.settings
        return intake.Issuer(s.source_system, s.public_lookup_url, s.applicant_key_secret.get_secret_value())


def runtime(request: Request) -> Runtime:
    state = request.app.state
    if getattr(state, "dossier_runtime", None) is None:
        state.dossier_runtime = Runtime(state.settings)
    held: Runtime = state.dossier_runtime
    return held


def caller(principal: Principal) -> Caller:
    return Caller.of(principal.subject, principal.scopes, principal.claims)


async def _submitter(
    principal: Annotated[Principal, require_scopes("dossier:submit")], uow: DossierUnitOfWorkDep
) -> Principal:
    """A person filing for themselves, or for an enterprise under a mandate active here with ``submit``."""
    await mandates.check(uow, caller(principal), SUBMIT)
    return principal


async def _reader(
    principal: Annotated[Principal, require_scopes("dossier:read")], uow: DossierUnitOfWorkDep
) -> Principal:
    """A reader; acting for an enterprise, under a mandate active here with ``read``."""
    await mandates.check(uow, caller(principal), READ)
    return principal


Submitter = Annotated[Principal, Depends(_submitter)]
Reader = Annotated[Principal, Depends(_reader)]

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
]


def document_limits(document: OpenApi, settings: DossierSettings) -> None:
    """State in the OpenAPI document the limits this deployment enforces: the files a dossier may
    name (``max_attachments_per_dossier``), and in words the form data's size (no schema keyword
    bounds a JSON object's bytes)."""
    schemas = document["components"]["schemas"]
    count = settings.max_attachments_per_dossier
    schemas["DossierCreate"]["properties"]["attachments"]["maxItems"] = count
    schemas["DossierCreate"]["properties"]["form"]["description"] = (
        f"The form's data, at most {settings.max_form_bytes} bytes as JSON."
    )
    form = schemas["SubmitDossierWithFilesForm"]["properties"]
    files = form["files"]  # uploaded and named files together
    files["maxItems"] = count
    files["description"] = f"With the dossier's named attachments, at most {count}."
    # The dossier part is a submission's JSON, as its own media type says (OpenAPI 3.1 encoding).
    form["dossier"] = {"$ref": "#/components/schemas/DossierCreate",
                       "description": "The submission, as a JSON part (at most 512 KiB)."}  # fmt: skip
    # A file is judged by its first bytes, not its name or declared type: these kinds only.
    kinds = ", ".join(kind.value for kind in FileKind)
    parts = {"/dossiers/with-files": {"dossier": "application/json", "files": kinds}, "/attachments": {"file": kinds}}
    for path, operations in document["paths"].items():
        if (fields := parts.get(path.removeprefix(SERVICE_PREFIX))) is not None:
            body = operations["post"]["requestBody"]["content"]["multipart/form-data"]
            body["encoding"] = {name: {"contentType": media} for name, media in fields.items()}


# --- attachments and drafts -----------------------------------------------------------------


@router.post("/attachments", status_code=201, summary="Upload a file (PDF, JPEG, PNG) for a dossier",
             operation_id="uploadAttachment")  # fmt: skip
async def upload(
    request: Request, principal: Submitter, uow: DossierUnitOfWorkDep, file: Annotated[UploadFile, File()]
) -> AttachmentPublic:
    rt, owner = runtime(request), caller(principal).subject  # an enterprise's, when acting for one
    stored = await intake.upload_attachment(uow, rt.storage, rt.limits, owner, file.file, file.filename)
    return AttachmentPublic.of(stored)


@router.post("/drafts", status_code=201, summary="Save a new draft")
async def create_draft(
    request: Request, body: DraftCreate, principal: Submitter, uow: DossierUnitOfWorkDep
) -> DraftPublic:
    limits = runtime(request).limits
    return DraftPublic.of(await intake.save_draft(uow, caller(principal), None, body.service_id, body.content, limits))


@router.put("/drafts/{draft_id}", summary="Replace a draft")
async def replace_draft(
    request: Request, draft_id: Id, body: DraftCreate, principal: Submitter, uow: DossierUnitOfWorkDep
) -> DraftPublic:
    limits = runtime(request).limits
    saved = await intake.save_draft(uow, caller(principal), draft_id.lower(), body.service_id, body.content, limits)
    return DraftPublic.of(saved)


@router.get("/drafts", summary="The caller's drafts")
async def list_drafts(principal: Submitter, uow: DossierUnitOfWorkDep) -> DraftListPublic:
    return DraftListPublic(items=[DraftSummaryPublic.of(d) for d in await intake.list_drafts(uow, caller(principal))])


@router.get("/drafts/{draft_id}", summary="One draft")
async def get_draft(draft_id: Id, principal: Submitter, uow: DossierUnitOfWorkDep) -> DraftPublic:
    return DraftPublic.of(await intake.get_draft(uow, caller(principal), draft_id.lower()))


@router.delete("/drafts/{draft_id}", status_code=204, summary="Delete a draft")
async def delete_draft(draft_id: Id, principal: Submitter, uow: DossierUnitOfWorkDep) -> Response:
    await intake.delete_draft(uow, caller(principal), draft_id.lower())
    return Response(status_code=204)


# --- submission and reads -------------------------------------------------------------------


async def _submitted(
    request: Request,
    uow: DossierUnitOfWork,
    principal: Principal,
    submission: intake.Submission,
    idempotency_key: str | None,
    fingerprint: str,
) -> JSONResponse:
    rt = runtime(request)
    receipt, created = await intake.submit(
        uow, caller(principal), submission, idempotency_key=idempotency_key, fingerprint=fingerprint,
        limits=rt.limits, calendar=rt.calendar, issuer=rt.issuer, offered_cache=rt.offered,
    )  # fmt: skip
    headers = {"Location": f"{request.url.path.removesuffix('/with-files')}/{receipt.dossier.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return FastJSONResponse(DossierReceiptPublic.json_of(receipt), status_code=201 if created else 200, headers=headers)


# A retry with the same Idempotency-Key answers the first request's receipt.
REPLAYED: dict[int | str, OpenApi] = {
    200: {"description": "The receipt of the dossier filed before with the same Idempotency-Key "
                         "(header Idempotent-Replayed: true)", "model": DossierReceiptPublic}}  # fmt: skip


@router.post("/dossiers", status_code=201, summary="Submit a dossier; answers its receipt", responses=REPLAYED,
             response_model=DossierReceiptPublic, operation_id="submitDossier")  # fmt: skip
@demands_acr(None)  # the online service's required_acr
async def submit(
    request: Request,
    body: DossierCreate,
    principal: Submitter,
    uow: DossierUnitOfWorkDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    fingerprint = idempotency.request_hash(body.model_dump(mode="json"))
    return await _submitted(request, uow, principal, body.value(), idempotency_key, fingerprint)


@router.post(
    "/dossiers/with-files",
    status_code=201,
    summary="Submit a dossier and its files in one multipart request; answers its receipt",
    responses=REPLAYED,
    response_model=DossierReceiptPublic,
    operation_id="submitDossierWithFiles",
    description="`dossier` is the JSON of a submission (its `attachments` may name files uploaded "
    "before); each part of `files` comes with the document component it answers, in `components`, "
    "in the same order. The whole request is bounded by the service's body limit.",
)
@demands_acr(None)  # the online service's required_acr
async def submit_with_files(
    request: Request,
    principal: Submitter,
    uow: DossierUnitOfWorkDep,
    dossier: Annotated[str, Form(max_length=512 * 1024)],
    files: Annotated[list[UploadFile], File()],
    components: Annotated[list[Annotated[str, Field(min_length=1, max_length=40)]], Form()],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    try:
        body = DossierCreate.model_validate_json(dossier)
    except ValidationError as exc:
        errors = [{"field": ".".join(["dossier", *map(str, e["loc"])]), "location": "body", "message": e["msg"]}
                  for e in exc.errors()]  # fmt: skip
        raise ValidationFailed(errors, "The dossier part is not valid.") from exc
    if len(components) != len(files):
        raise ValidationFailed([{"field": "components", "location": "body",
                                 "message": "One component code per file, in the same order."}])  # fmt: skip
    rt = runtime(request)
    if len(files) + len(body.attachments) > rt.limits.max_attachments:
        message = f"At most {rt.limits.max_attachments} files."
        raise ValidationFailed([{"field": "files", "location": "body", "message": message}])
    # A retry is recognised by the dossier part and the files' contents, not by new file ids.
    digests = [await intake.digest(part.file) for part in files]
    fingerprint = idempotency.request_hash(
        {"dossier": body.model_dump(mode="json"), "files": list(zip(digests, components, strict=True))}
    )
    uploaded: list[AttachmentRefValue] = []
    owner = caller(principal).subject
    if idempotency_key is None or await intake.known_key(uow, owner, idempotency_key, fingerprint) is None:
        for part, component in zip(files, components, strict=True):
            stored = await intake.upload_attachment(uow, rt.storage, rt.limits, owner, part.file,
                                                    part.filename)  # fmt: skip
            uploaded.append(AttachmentRefValue(id=stored.id, component_code=component))
    return await _submitted(request, uow, principal, body.value(uploaded), idempotency_key, fingerprint)


@router.get("/dossiers", summary="The caller's dossiers (officials: their agencies'), newest first",
            response_model=DossierSummaryPage)  # fmt: skip
async def list_dossiers(
    request: Request,
    principal: Reader,
    uow: DossierUnitOfWorkDep,
    status: Annotated[int | None, Query(ge=1, le=10)] = None,
    agency: Annotated[str | None, Query(max_length=40, pattern=r"^[0-9A-Za-z.]+$")] = None,
    cursor: Cursor = None,
    limit: Annotated[int, page_size(MAX_PAGE)] = 20,
) -> Response:
    found = await tracking.list_dossiers(
        uow, caller(principal), agency=agency, status=DossierStatus(status) if status is not None else None,
        cursor=cursor, limit=limit,
    )  # fmt: skip
    return page_response(request, [DossierSummaryPublic.json_of(s) for s in found.items], found.next)


@router.get("/dossiers/{dossier_id}", summary="A dossier with its documents and timeline")
async def get_dossier(dossier_id: Id, principal: Reader, uow: DossierUnitOfWorkDep) -> DossierPublic:
    return DossierPublic.detail(await tracking.dossier_detail(uow, caller(principal), dossier_id.lower()))


@router.get("/dossiers/{dossier_id}/timeline", summary="Every status change of a dossier",
            operation_id="getDossierTimeline")  # fmt: skip
async def get_timeline(dossier_id: Id, principal: Reader, uow: DossierUnitOfWorkDep) -> TimelinePublic:
    entries = await tracking.timeline(uow, caller(principal), dossier_id.lower())
    return TimelinePublic(items=[HistoryEntryPublic.of(e) for e in entries])


@router.get("/dossiers/{dossier_id}/receipt", summary="The receipt and appointment")
async def get_receipt(
    request: Request, dossier_id: Id, principal: Reader, uow: DossierUnitOfWorkDep
) -> DossierReceiptPublic:
    return DossierReceiptPublic.of(
        await intake.receipt(uow, caller(principal), dossier_id.lower(), runtime(request).issuer)
    )


@router.get(
    "/dossiers/{dossier_id}/receipt.png",
    summary="The receipt's QR code for status lookup",
    response_class=Response,
    responses={200: binary_content("image/png")},
    operation_id="getReceiptQrCode",
)
async def get_receipt_qr(request: Request, dossier_id: Id, principal: Reader, uow: DossierUnitOfWorkDep) -> Response:
    png = await intake.receipt_png(uow, caller(principal), dossier_id.lower(), runtime(request).issuer)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get(
    "/dossiers/{dossier_id}/attachments/{attachment_id}",
    summary="A file of a dossier (its owner and its agency's officials only)",
    response_class=StreamingResponse,
    responses={200: binary_content("application/pdf", "image/jpeg", "image/png")},
    operation_id="downloadAttachment",
)
async def download(
    request: Request, dossier_id: Id, attachment_id: Id, principal: Reader, uow: DossierUnitOfWorkDep
) -> StreamingResponse:
    found = await tracking.attachment_for(uow, caller(principal), dossier_id.lower(), attachment_id.lower())
    return stored_file(runtime(request).storage.read(found.storage_key), found.filename, found.content_type, found.size)


# --- the owner's actions --------------------------------------------------------------------


@router.post("/dossiers/{dossier_id}/withdrawal", summary="Ask to withdraw a dossier not yet finished",
             operation_id="withdrawDossier")  # fmt: skip
async def withdraw(
    dossier_id: Id, body: WithdrawalCreate, principal: Submitter, uow: DossierUnitOfWorkDep
) -> DossierSummaryPublic:
    withdrawn = await tracking.withdraw(uow, caller(principal), dossier_id.lower(), body.reason)
    return DossierSummaryPublic.of(withdrawn.summary())


@router.post("/dossiers/{dossier_id}/supplements", summary="Add the documents the agency asked for",
             operation_id="supplementDossier")  # fmt: skip
async def supplement(
    dossier_id: Id, body: SupplementCreate, principal: Submitter, uow: DossierUnitOfWorkDep
) -> DossierSummaryPublic:
    wanted = [item.value() for item in body.attachments]
    supplemented = await tracking.supplement(uow, caller(principal), dossier_id.lower(), wanted, body.note)
    return DossierSummaryPublic.of(supplemented.summary())


@router.post("/dossiers/{dossier_id}/rating", status_code=201, summary="Rate the service once the result is back",
             operation_id="rateDossier")  # fmt: skip
async def rate(dossier_id: Id, body: RatingCreate, principal: Submitter, uow: DossierUnitOfWorkDep) -> RatingPublic:
    return RatingPublic.of(await tracking.rate(uow, caller(principal), dossier_id.lower(), body.score, body.comment))


# --- public ---------------------------------------------------------------------------------


LOOKUP_REFUSED: dict[int | str, OpenApi] = {
    404: {"description": "No dossier with this code and verifier (a wrong verifier answers the same)"},
    429: {"description": "Too many wrong lookups of this code, or from this address: retry after `Retry-After` "
                         "seconds"},
}  # fmt: skip


def client_address(request: Request) -> str:
    """The address the request came from: the one the gateway forwards (it sets the header
    itself, from its own peer), else the peer's."""
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.rsplit(",", 1)[-1].strip()
    return request.client.host if request.client is not None else "unknown"


@router.get(
    "/lookup",
    summary="Public status of a dossier by its code and the receipt's lookup secret",
    description="`verifier` is the lookup secret printed on the receipt (`XXXXX-XXXXX`; case and dash "
    "do not matter). For a dossier whose receipt has none (filed before receipts carried one, or filed "
    "at the agency's desk) it is the last 4 digits of the applicant's identifier. Wrong lookups are "
    "limited per dossier code and per address.",
    responses=LOOKUP_REFUSED,
    operation_id="lookupDossier",
)
async def lookup(
    request: Request,
    uow: DossierUnitOfWorkDep,
    code: Annotated[str, Query(min_length=1, max_length=DOSSIER_CODE_MAX_LENGTH, pattern=r"^[0-9A-Za-z.-]+$")],
    verifier: Annotated[str, Query(pattern=r"^([0-9]{4}|[0-9A-Za-z]{5}-?[0-9A-Za-z]{5})$")],
) -> DossierLookupPublic:
    limits = runtime(request).lookup_limits
    return DossierLookupPublic.of(await public_lookup.lookup(uow, code, verifier, client_address(request), limits))


STATISTICS_CACHE = "public, max-age=300"
MAX_STATISTICS_DAYS = 366
MAX_STATISTICS_PAGE = 200
AgencyCodeQuery = Annotated[str | None, Query(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.-]+$")]


@router.get(
    "/statistics",
    summary="Public figures per agency over a period (Vietnam calendar days) and the service-quality index",
    responses=NOT_MODIFIED,
    response_model=StatisticsPage,
    operation_id="getStatistics",
)
async def statistics_figures(
    request: Request,
    uow: DossierUnitOfWorkDep,
    since: Annotated[date, Query(alias="from", description="first day, yyyy-mm-dd")],
    days: Annotated[int, Query(ge=1, le=MAX_STATISTICS_DAYS, description="how many days the period holds (1–366)")],
    agency: AgencyCodeQuery = None,
    cursor: Cursor = None,
    limit: Annotated[int, page_size(MAX_STATISTICS_PAGE, default=50)] = 50,
) -> Response:
    # The period is its first day and its length, so the document states every bound (a last
    # day would need a rule between two parameters). It stops at the calendar's last day.
    until = since + timedelta(days=days - 1) if (date.max - since).days >= days - 1 else date.max
    page = await statistics.figures(uow, since, until, agency=agency, after=cursor, limit=limit)
    answer = cached_json(request, StatisticsPage.of(page).model_dump(mode="json", by_alias=True), STATISTICS_CACHE)
    link_next(request, answer, page.next)
    return answer
