"""The notification API, mounted under ``/api/v1/notification``:

- ``/inbox``: the caller's notices (scope ``notification:read``): list, unread count, mark read,
  and ``/inbox/stream``, the same live (Server-Sent Events);
- ``/preferences`` and ``/devices``: how notices reach the caller;
- ``/templates``: the texts of each kind of notice, versioned, and their preview (scope
  ``notification:templates``);
- ``/receipts/sms/{provider}``: an SMS provider's delivery receipts (public, signed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from services.kit.errors import BadRequest, NotFound, RecordedRefusal, Unauthorized
from services.kit.pagination import Cursor, link_next, page_size
from services.kit.schemas import UUID_PATTERN

from ..adapters.sms import MAX_RECEIPT_BYTES, MAX_RECEIPTS, ReceiptRefused, parse_receipts
from ..domain.notices import Kind
from ..domain.templates import Language
from ..service import dispatch, people, templates
from ..settings import NotificationSettings
from .dependencies import ClockDep, NotificationUnitOfWorkDep, OperatorDep, PersonDep, StreamsDep
from .schemas import (
    DeviceCreate,
    DevicePublic,
    DeviceRemoval,
    InboxItemPublic,
    InboxPage,
    MarkedPublic,
    PreferencesPublic,
    PreferencesUpdate,
    PreviewCreate,
    PreviewProblem,
    PreviewPublic,
    TemplatePublic,
    TemplateUpdate,
    UnreadPublic,
)
from .streams import stream

router = APIRouter(tags=["notification"])

Id = Annotated[str, Path(pattern=UUID_PATTERN)]
MAX_PAGE = 100
EVENT_STREAM: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                      "description": "Events `unread` ({unread}) and `item` (an inbox item)"}}  # fmt: skip


@router.get("/inbox", summary="Your notices, newest first", operation_id="listInbox")
async def list_inbox(
    request: Request, response: Response, account: PersonDep, uow: NotificationUnitOfWorkDep, cursor: Cursor = None,
    limit: Annotated[int, page_size(MAX_PAGE)] = 20, unread: Annotated[bool, Query()] = False,
) -> InboxPage:  # fmt: skip
    page = await people.inbox(uow, account, cursor, limit, unread)
    link_next(request, response, page.next)
    return InboxPage(items=[InboxItemPublic.of(i) for i in page.items], next=page.next, unread=page.unread)


@router.get("/inbox/unread", summary="How many of your notices are unread", operation_id="countUnread")
async def count_unread(account: PersonDep, uow: NotificationUnitOfWorkDep) -> UnreadPublic:
    return UnreadPublic(unread=await uow.inbox.unread(account))


@router.post("/inbox/{item_id}/read", summary="Mark one notice read", operation_id="markInboxItemRead")
async def mark_read(item_id: Id, account: PersonDep, uow: NotificationUnitOfWorkDep, clock: ClockDep) -> MarkedPublic:
    return MarkedPublic(marked=await people.mark_read(uow, account, item_id.lower(), clock.now()))


@router.post("/inbox/read", summary="Mark all your notices read", operation_id="markInboxRead")
async def mark_all_read(account: PersonDep, uow: NotificationUnitOfWorkDep, clock: ClockDep) -> MarkedPublic:
    return MarkedPublic(marked=await people.mark_read(uow, account, None, clock.now()))


@router.get("/inbox/stream", summary="Your notices as they arrive (Server-Sent Events)",
            response_class=StreamingResponse, responses=EVENT_STREAM, operation_id="streamInbox")  # fmt: skip
async def stream_inbox(request: Request, account: PersonDep, streams: StreamsDep) -> StreamingResponse:
    settings: NotificationSettings = request.app.state.settings
    frames = stream(streams, request.app.state.db, account, settings.stream_heartbeat_seconds)
    first = await anext(frames)  # refusals (too many streams) answer as problems, before the stream starts
    return StreamingResponse(_chain(first, frames), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # fmt: skip


async def _chain(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for frame in rest:
        yield frame


@router.get("/preferences", summary="How your notices reach you", operation_id="getNotificationPreferences")
async def get_preferences(account: PersonDep, uow: NotificationUnitOfWorkDep) -> PreferencesPublic:
    return PreferencesPublic.of(await people.preferences(uow, account))


@router.put("/preferences", summary="Choose channels and switch off what is not essential",
            operation_id="putNotificationPreferences")  # fmt: skip
async def put_preferences(
    body: PreferencesUpdate, account: PersonDep, uow: NotificationUnitOfWorkDep, clock: ClockDep
) -> PreferencesPublic:
    channels, off = body.chosen()
    return PreferencesPublic.of(await people.choose_preferences(uow, account, channels, off, clock.now()))


@router.post("/devices", status_code=201, summary="Register this device for push notifications",
             operation_id="registerDevice")  # fmt: skip
async def register_device(
    request: Request, body: DeviceCreate, account: PersonDep, uow: NotificationUnitOfWorkDep, clock: ClockDep
) -> DevicePublic:
    settings: NotificationSettings = request.app.state.settings
    device = await people.register_device(uow, account, body.token, body.platform, clock.now(),
                                          settings.devices_per_account)  # fmt: skip
    return DevicePublic.of(device)


@router.post("/devices/removal", status_code=204, summary="Stop push notifications to a device",
             operation_id="removeDevice")  # fmt: skip
async def remove_device(body: DeviceRemoval, account: PersonDep, uow: NotificationUnitOfWorkDep) -> Response:
    await people.remove_device(uow, account, body.token)
    return Response(status_code=204)


@router.get("/templates", summary="The current template of each kind and language", operation_id="listTemplates")
async def list_templates(_: OperatorDep, uow: NotificationUnitOfWorkDep) -> list[TemplatePublic]:
    return [TemplatePublic.of(t) for t in await uow.templates.latest()]


@router.get("/templates/{kind}/{language}", summary="A kind's current template", operation_id="getTemplate")
async def get_template(
    kind: Kind, language: Language, _: OperatorDep, uow: NotificationUnitOfWorkDep
) -> TemplatePublic:
    return TemplatePublic.of(await templates.current(uow, kind, language))


@router.put("/templates/{kind}/{language}", status_code=201, summary="Save a new version of a kind's template",
            operation_id="saveTemplate")  # fmt: skip
async def save_template(
    kind: Kind, language: Language, body: TemplateUpdate, operator: OperatorDep, uow: NotificationUnitOfWorkDep,
    clock: ClockDep,
) -> TemplatePublic:  # fmt: skip
    saved = await templates.save(uow, kind, language, body.texts.parts(), body.variables, operator, clock.now())
    return TemplatePublic.of(saved)


@router.post("/templates/{kind}/{language}/preview", summary="What a notice would say, or why it cannot be made",
             operation_id="previewTemplate")  # fmt: skip
async def preview_template(
    kind: Kind, language: Language, body: PreviewCreate, _: OperatorDep, uow: NotificationUnitOfWorkDep
) -> PreviewPublic:
    texts = body.texts.parts() if body.texts is not None else None
    made = await templates.preview(uow, kind, language, body.values, texts, body.variables)
    return PreviewPublic(kind=kind, language=language, version=made.version, texts=made.texts,
                         problems=[PreviewProblem(field=f, message=m) for f, m in made.problems])  # fmt: skip


# --- providers ----------------------------------------------------------------------------------

_ONE_RECEIPT = {
    "type": "object", "required": ["id", "status", "at"], "additionalProperties": False,
    "properties": {"id": {"type": "string"}, "client_ref": {"type": "string"},
                   "status": {"enum": ["delivered", "failed"]}, "permanent": {"type": "boolean"},
                   "at": {"type": "string", "format": "date-time"}, "error": {"type": "string"}},
}  # fmt: skip
RECEIPT = {
    "parameters": [{
        "name": "X-Signature", "in": "header", "required": True, "schema": {"type": "string", "minLength": 1},
        "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256 of t, a dot and the raw body>` under the provider's "
                       "signing secret (the previous one too during a rotation), within 5 minutes; compared in "
                       "constant time. Missing, malformed, stale or not matching: 401.",
    }],
    "requestBody": {
        "required": True,
        "description": f"One delivery receipt, or up to {MAX_RECEIPTS} as `receipts`, as the provider signed them "
                       f"(at most {MAX_RECEIPT_BYTES // 1024} KiB).",
        "content": {"application/json": {"schema": {"oneOf": [_ONE_RECEIPT, {
            "type": "object", "required": ["receipts"], "additionalProperties": False,
            "properties": {"receipts": {"type": "array", "items": _ONE_RECEIPT, "minItems": 1,
                                        "maxItems": MAX_RECEIPTS}},
        }]}}},
    },
}  # fmt: skip


@router.post("/receipts/sms/{provider}", status_code=204, summary="An SMS provider's delivery receipt (signed)",
             operation_id="receiveSmsReceipt", openapi_extra=RECEIPT,
             responses={204: {"description": "Applied (or already applied)"}})  # fmt: skip
async def sms_receipt(
    request: Request, provider: Annotated[str, Path(max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*$")],
    uow: NotificationUnitOfWorkDep, clock: ClockDep,
) -> Response:  # fmt: skip
    settings: NotificationSettings = request.app.state.settings
    configured = next((p for p in settings.sms_providers if p.name == provider), None)
    if configured is None:
        raise NotFound("No SMS provider has this name.")
    body = await request.body()
    try:
        told = parse_receipts(provider, request.headers, body, configured.receipt_secrets(), clock.now())
    except ReceiptRefused as refused:
        raise (Unauthorized if refused.status_code == 401 else BadRequest)(str(refused)) from None
    names = tuple(p.name for p in settings.sms_providers)
    unknown = await dispatch.receipts(uow, provider, told, clock.now(), names, settings.first_retry)
    if unknown:
        raise ReceiptsAhead(f"{len(unknown)} of the {len(told)} receipts name no message yet; send them again later.")
    return Response(status_code=204)


class ReceiptsAhead(NotFound, RecordedRefusal):
    """Some receipts overtook the recording of their messages' hand-over: those known are applied
    and kept (applying them again changes nothing), and the provider posts the whole lot again."""
