"""The feedback API, mounted under ``/api/v1/feedback``:

- ``/feedback``: what a person sent (scope ``feedback:send``): send, list, read, add information,
  withdraw, rate.
- ``/queue``: the feedback of an official's agencies (scope ``feedback:process``, signed in with a
  second factor): list, read, classify, transfer, ask for information, answer, publish; and
  ``/recorded``, feedback that came by phone, mail or in person.
- ``/answers`` and ``/statistics``: public, no token.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from contracts.json import OpenApi
from services.kit.caching import NOT_MODIFIED, cached_json
from services.kit.http import stored_file
from services.kit.openapi import binary_content
from services.kit.pagination import Cursor, link_next, page_size
from services.kit.schemas import UUID_PATTERN
from services.kit.storage import FileStorage

from ..domain.attachments import Attachment
from ..domain.feedback import Channel, Status
from ..service import handling, public, sending
from ..service.unit_of_work import AnswerQuery
from ..settings import FeedbackSettings
from .dependencies import ClockDep, FeedbackUnitOfWorkDep, OfficialDep, RulesDep, SenderDep, StorageDep
from .schemas import (
    AgencyCode,
    AgencyFeedbackFiguresPublic,
    AnswerCreate,
    AnswerPage,
    AnswerPublic,
    ClassificationCreate,
    FeedbackAttachmentPublic,
    FeedbackCreate,
    FeedbackFiguresPublic,
    FeedbackForAgency,
    FeedbackPage,
    FeedbackPublic,
    FeedbackRatingCreate,
    FeedbackSummaryPublic,
    InformationCreate,
    NoteCreate,
    ProcedureCode,
    RecordedFeedbackCreate,
    TransferCreate,
)

router = APIRouter(tags=["feedback"])

Id = Annotated[str, Path(pattern=UUID_PATTERN)]
MAX_PAGE = 100
PUBLIC_CACHE = "public, max-age=60"
STATISTICS_CACHE = "public, max-age=300"

# --- the sender -------------------------------------------------------------------------------


@router.post("/attachments", status_code=201, summary="Upload a file (PDF, JPEG, PNG) to send with feedback",
             operation_id="uploadFeedbackAttachment")  # fmt: skip
async def upload(
    file: Annotated[UploadFile, File()], caller: SenderDep, uow: FeedbackUnitOfWorkDep, rules: RulesDep,
    storage: StorageDep, clock: ClockDep,
) -> FeedbackAttachmentPublic:  # fmt: skip
    return FeedbackAttachmentPublic.of(
        await sending.upload(uow, rules, storage, caller.subject, file.file, file.filename, clock.now())
    )


def document_limits(document: OpenApi, settings: FeedbackSettings) -> None:
    """State in the OpenAPI document the limits this deployment enforces: the files one piece of
    feedback (or one addition) may name, and one file's bytes."""
    for schema in document["components"]["schemas"].values():
        files = schema.get("properties", {}).get("attachments")
        if isinstance(files, dict) and files.get("type") == "array":
            files["maxItems"] = settings.max_attachments
    for path, item in document["paths"].items():
        if path.endswith("/attachments") and "post" in item:
            item["post"]["description"] = (
                f"A PDF, JPEG or PNG (judged by its content) of at most {settings.max_attachment_bytes} bytes; "
                f"at most {settings.max_uploads_per_account_per_day} files an account a day."
            )


FILE_RESPONSES: dict[int | str, OpenApi] = {200: binary_content("application/pdf", "image/jpeg", "image/png")}


def _file(storage: FileStorage, attachment: Attachment) -> StreamingResponse:
    a = attachment
    return stored_file(storage.read(a.storage_key), a.filename, a.content_type, a.size)


@router.get("/feedback/{feedback_id}/attachments/{attachment_id}", summary="A file sent with one's feedback",
            response_class=StreamingResponse, responses=FILE_RESPONSES,
            operation_id="downloadMyFeedbackAttachment")  # fmt: skip
async def download_mine(
    feedback_id: Id, attachment_id: Id, caller: SenderDep, uow: FeedbackUnitOfWorkDep, storage: StorageDep
) -> StreamingResponse:
    feedback = await sending.own(uow, caller, feedback_id.lower(), lock=False)
    return _file(storage, await sending.attachment(uow, feedback, attachment_id.lower()))


@router.post("/feedback", status_code=201, summary="Send feedback or a recommendation", operation_id="sendFeedback")
async def send(
    request: Request, response: Response, body: FeedbackCreate, caller: SenderDep, uow: FeedbackUnitOfWorkDep,
    rules: RulesDep, clock: ClockDep,
) -> FeedbackPublic:  # fmt: skip
    feedback = await sending.receive(uow, rules, body.value(caller.subject), clock.now())
    response.headers["Location"] = f"{request.url.path}/{feedback.id}"
    return FeedbackPublic.detail(feedback)


@router.get("/feedback", summary="The caller's feedback, newest first", operation_id="listMyFeedback")
async def list_mine(
    request: Request, response: Response, caller: SenderDep, uow: FeedbackUnitOfWorkDep, cursor: Cursor = None,
    limit: Annotated[int, page_size(MAX_PAGE)] = 20,
) -> FeedbackPage:  # fmt: skip
    found = await sending.mine(uow, caller, cursor, limit)
    link_next(request, response, found.next)
    return FeedbackPage(items=[FeedbackSummaryPublic.of(f) for f in found.items], next=found.next)


@router.get("/feedback/{feedback_id}", summary="One's feedback with its timeline and answer",
            operation_id="getMyFeedback")  # fmt: skip
async def get_mine(feedback_id: Id, caller: SenderDep, uow: FeedbackUnitOfWorkDep) -> FeedbackPublic:
    return FeedbackPublic.detail(await sending.own(uow, caller, feedback_id.lower(), lock=False))


@router.post("/feedback/{feedback_id}/information", summary="Add the information the agency asked for",
             operation_id="addFeedbackInformation")  # fmt: skip
async def add_information(
    feedback_id: Id,
    body: InformationCreate,
    caller: SenderDep,
    uow: FeedbackUnitOfWorkDep,
    rules: RulesDep,
    clock: ClockDep,
) -> FeedbackPublic:
    feedback = await sending.add_information(
        uow, rules, caller, feedback_id.lower(), body.note, clock.now(), tuple(body.attachments)
    )
    return FeedbackPublic.detail(feedback)


@router.post("/feedback/{feedback_id}/withdrawal", summary="Withdraw feedback not yet answered",
             operation_id="withdrawFeedback")  # fmt: skip
async def withdraw(feedback_id: Id, caller: SenderDep, uow: FeedbackUnitOfWorkDep, clock: ClockDep) -> FeedbackPublic:
    return FeedbackPublic.detail(await sending.withdraw(uow, caller, feedback_id.lower(), clock.now()))


@router.post("/feedback/{feedback_id}/rating", summary="Rate the answer (once)", operation_id="rateFeedbackAnswer")
async def rate(
    feedback_id: Id, body: FeedbackRatingCreate, caller: SenderDep, uow: FeedbackUnitOfWorkDep, clock: ClockDep
) -> FeedbackPublic:
    return FeedbackPublic.detail(await sending.rate(uow, caller, feedback_id.lower(), body.score, clock.now()))


# --- the agency -------------------------------------------------------------------------------


@router.get("/queue", summary="Your agencies' feedback, oldest first", operation_id="listAgencyFeedback")
async def agency_queue(
    request: Request, response: Response, caller: OfficialDep, uow: FeedbackUnitOfWorkDep,
    agency: Annotated[str | None, Query(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.]+$")] = None,
    status: Status | None = None, overdue: bool | None = None, cursor: Cursor = None,
    limit: Annotated[int, page_size(MAX_PAGE)] = 20,
) -> FeedbackPage:  # fmt: skip
    found = await handling.queue(uow, caller, agency=agency, status=status, overdue=overdue, cursor=cursor,
                                 limit=limit)  # fmt: skip
    link_next(request, response, found.next)
    return FeedbackPage(items=[FeedbackSummaryPublic.of(f) for f in found.items], next=found.next)


@router.post("/recorded", status_code=201, summary="Record feedback received by phone, mail or in person",
             operation_id="recordFeedback")  # fmt: skip
async def record(
    body: RecordedFeedbackCreate, caller: OfficialDep, uow: FeedbackUnitOfWorkDep, rules: RulesDep, clock: ClockDep
) -> FeedbackSummaryPublic:
    feedback = await sending.receive(uow, rules, body.value("", Channel(body.channel)), clock.now())
    return FeedbackSummaryPublic.of(feedback)


@router.get("/queue/{feedback_id}", summary="Feedback of your agencies, with the sender's contact",
            operation_id="getAgencyFeedback")  # fmt: skip
async def get_handled(feedback_id: Id, caller: OfficialDep, uow: FeedbackUnitOfWorkDep) -> FeedbackForAgency:
    return FeedbackForAgency.for_agency(await handling.handled(uow, caller, feedback_id.lower(), lock=False))


@router.get("/queue/{feedback_id}/attachments/{attachment_id}", summary="A file sent with your agencies' feedback",
            response_class=StreamingResponse, responses=FILE_RESPONSES,
            operation_id="downloadHandledAttachment")  # fmt: skip
async def download_handled(
    feedback_id: Id, attachment_id: Id, caller: OfficialDep, uow: FeedbackUnitOfWorkDep, storage: StorageDep
) -> StreamingResponse:
    feedback = await handling.handled(uow, caller, feedback_id.lower(), lock=False)
    return _file(storage, await sending.attachment(uow, feedback, attachment_id.lower()))


@router.post("/queue/{feedback_id}/classification", summary="Classify it (Decree 20/2008's groups)",
             operation_id="classifyFeedback")  # fmt: skip
async def classify(
    feedback_id: Id, body: ClassificationCreate, caller: OfficialDep, uow: FeedbackUnitOfWorkDep, clock: ClockDep
) -> FeedbackForAgency:
    feedback = await handling.classify(uow, caller, feedback_id.lower(), body.category, body.refusal, clock.now())
    return FeedbackForAgency.for_agency(feedback)


@router.post("/queue/{feedback_id}/transfer", summary="Transfer it to the competent agency",
             operation_id="transferFeedback")  # fmt: skip
async def transfer(
    feedback_id: Id, body: TransferCreate, caller: OfficialDep, uow: FeedbackUnitOfWorkDep, rules: RulesDep,
    clock: ClockDep,
) -> FeedbackSummaryPublic:  # fmt: skip
    feedback = await handling.transfer(uow, rules, caller, feedback_id.lower(), body.agency_code, body.reason,
                                       clock.now())  # fmt: skip
    return FeedbackSummaryPublic.of(feedback)  # no longer this agency's: its summary only


@router.post("/queue/{feedback_id}/information-request", summary="Ask the sender for more information",
             operation_id="requestFeedbackInformation")  # fmt: skip
async def request_information(
    feedback_id: Id, body: NoteCreate, caller: OfficialDep, uow: FeedbackUnitOfWorkDep, rules: RulesDep,
    clock: ClockDep,
) -> FeedbackForAgency:  # fmt: skip
    feedback = await handling.request_information(uow, rules, caller, feedback_id.lower(), body.note, clock.now())
    return FeedbackForAgency.for_agency(feedback)


@router.post("/queue/{feedback_id}/answer", summary="Answer it", operation_id="answerFeedback")
async def answer(
    feedback_id: Id, body: AnswerCreate, caller: OfficialDep, uow: FeedbackUnitOfWorkDep, clock: ClockDep
) -> FeedbackForAgency:
    return FeedbackForAgency.for_agency(await handling.answer(uow, caller, feedback_id.lower(), body.answer,
                                                              clock.now()))  # fmt: skip


@router.post("/queue/{feedback_id}/publication", summary="Publish the answer (with the sender's consent)",
             operation_id="publishFeedbackAnswer")  # fmt: skip
async def publish(
    feedback_id: Id, caller: OfficialDep, uow: FeedbackUnitOfWorkDep, clock: ClockDep
) -> FeedbackForAgency:
    return FeedbackForAgency.for_agency(await handling.publish(uow, caller, feedback_id.lower(), clock.now()))


# --- public -----------------------------------------------------------------------------------


@router.get("/answers", summary="Search the published answers (diacritics and case do not matter)",
            responses=NOT_MODIFIED, response_model=AnswerPage, operation_id="searchFeedbackAnswers")  # fmt: skip
async def search_answers(
    request: Request, uow: FeedbackUnitOfWorkDep,
    q: Annotated[str, Query(max_length=200, description="words, with or without diacritics and in any case; "
                                               f"the first {public.MAX_WORDS} count")] = "",
    agency: Annotated[AgencyCode | None, Query()] = None,
    procedure: Annotated[ProcedureCode | None, Query()] = None,
    sector: Annotated[str | None, Query(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z._-]+$")] = None,
    published_from: Annotated[date | None, Query(alias="from", description="first day published, yyyy-mm-dd")] = None,
    published_to: Annotated[date | None, Query(alias="to", description="last day published, yyyy-mm-dd")] = None,
    cursor: Cursor = None, limit: Annotated[int, page_size(MAX_PAGE)] = 20,
) -> Response:  # fmt: skip
    query = AnswerQuery(q, agency, procedure, sector, published_from, published_to)
    found = await public.search(uow, query, cursor, limit)
    body = {"items": [AnswerPublic.json_of(a) for a in found.items], "next": found.next}
    answer_ = cached_json(request, body, PUBLIC_CACHE)
    link_next(request, answer_, found.next)
    return answer_


@router.get("/answers/{feedback_id}", summary="One published answer", operation_id="getFeedbackAnswer")
async def get_answer(feedback_id: Id, uow: FeedbackUnitOfWorkDep) -> AnswerPublic:
    return AnswerPublic.of(await public.published(uow, feedback_id.lower()))


@router.get("/statistics", summary="Feedback per agency over a period: received, answered, on time, overdue",
            responses=NOT_MODIFIED, response_model=FeedbackFiguresPublic,
            operation_id="getFeedbackStatistics")  # fmt: skip
async def statistics(
    request: Request, uow: FeedbackUnitOfWorkDep, clock: ClockDep,
    period_from: Annotated[date, Query(alias="from", description="first day received, yyyy-mm-dd")],
    days: Annotated[int, Query(ge=1, le=public.MAX_PERIOD_DAYS, description="how many days the period holds")],
    agency: Annotated[AgencyCode | None, Query()] = None,
) -> Response:  # fmt: skip
    # The period is its first day and its length, so the document states every bound (a last day
    # would need a rule between two parameters).
    found = await public.figures(uow, period_from, days, agency, clock.now())
    body = FeedbackFiguresPublic(period_from=found.period_from, period_to=found.period_to,
                         agencies=[AgencyFeedbackFiguresPublic.of(a) for a in found.agencies])  # fmt: skip
    return cached_json(request, body.model_dump(mode="json", by_alias=True), STATISTICS_CACHE)
