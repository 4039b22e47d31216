"""The sync API for agency systems (machine clients, scope ``sync:push``): status records in
the portal's own JSON format (``/records``) or in the format provincial systems already speak
(``/compat``: ``{"service": "DongBoHoSoMC" | "CapNhatTienDoHoSoMC", "isUpdating", "data"}``),
each answered record by record; a batch's results read again; and the agencies' status
mappings (``sync:admin``). Pushes are rate-limited per client (429 with ``Retry-After``).

Agencies that pull read the feed in the kit's one list shape (``items``, ``next``; ``cursor``
and ``limit``; a ``Link`` header): the cursor is the last delivery id read, and the feed lists
what comes after it in delivery-id order (ids are committed in order, so it never skips one).
The feed has no end: ``next`` is null only when nothing comes after the cursor yet, and a
client keeps the last ``next`` it had to poll again."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from services.kit.auth import Principal, require_scopes
from services.kit.errors import RateLimited
from services.kit.pagination import link_next, page_size
from services.kit.ratelimit import TokenBucketLimiter

from ..domain.batches import PORTAL, AgencyClient, Format
from ..service import inbound, outbound
from ..service.unit_of_work import SyncUnitOfWork
from ..settings import SyncSettings
from .dependencies import SyncUnitOfWorkDep
from .schemas import (
    MAX_ID,
    AcknowledgementCreate,
    AcknowledgementPublic,
    BatchDetailPublic,
    BatchPublic,
    CompatPush,
    DeliveryPublic,
    EndpointPublic,
    EndpointUpdate,
    FailingAgencyPublic,
    FailingPublic,
    FeedItemPublic,
    FeedPage,
    RecordsPush,
    RedeliveryPublic,
    StatusMappingPublic,
    StatusMappingUpdate,
    batch_json,
)

router = APIRouter(tags=["sync"])
MAX_CLIENTS_TRACKED = 10_000
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
AgencyCode = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.]+$")]
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID)]


def client_of(principal: Principal) -> AgencyClient:
    agencies = principal.claims.get("agencies") or []
    return AgencyClient(principal.client_id or principal.subject,
                        frozenset(a for a in agencies if isinstance(a, str)))  # fmt: skip


async def rate_limited_client(
    request: Request, principal: Annotated[Principal, require_scopes("sync:push")]
) -> AgencyClient:
    settings: SyncSettings = request.app.state.settings
    limiter = getattr(request.app.state, "push_limiter", None)
    if limiter is None:
        limiter = TokenBucketLimiter(settings.push_rate_per_minute, settings.push_burst, MAX_CLIENTS_TRACKED)
        request.app.state.push_limiter = limiter
    client = client_of(principal)
    wait = limiter.acquire(client.client_id)
    if wait:
        raise RateLimited(max(1, math.ceil(wait)), f"Too many pushes from {client.client_id}; slow down.")
    return client


Pusher = Annotated[AgencyClient, Depends(rate_limited_client)]
Puller = Annotated[Principal, require_scopes("sync:push")]
Admin = Annotated[Principal, require_scopes("sync:admin")]


def _answer(body: bytes) -> Response:
    """A batch's answer, its JSON already written (a push answers up to a thousand records: they
    are not validated again on their way out)."""
    return Response(body, media_type="application/json")


async def _push(request: Request, uow: SyncUnitOfWork, client: AgencyClient, records: list[object], fmt: Format,
                prefix: str) -> Response:  # fmt: skip
    settings: SyncSettings = request.app.state.settings
    batch = await inbound.push(uow, client, records, fmt=fmt, prefix=prefix, max_records=settings.max_records_per_batch,
                               clock_skew_seconds=settings.clock_skew_seconds)  # fmt: skip
    return _answer(batch_json(batch))


@router.post("/records", response_model=BatchPublic,
             summary="Push status records (the portal's JSON format); answers each record")  # fmt: skip
async def push_records(request: Request, body: RecordsPush, pusher: Pusher, uow: SyncUnitOfWorkDep) -> Response:
    return await _push(request, uow, pusher, body.records, PORTAL, "records")


@router.post("/compat", response_model=BatchPublic, operation_id="pushCompatRecords",
             summary="Push in the provincial format (DongBoHoSoMC, CapNhatTienDoHoSoMC)")  # fmt: skip
async def push_compat(request: Request, body: CompatPush, pusher: Pusher, uow: SyncUnitOfWorkDep) -> Response:
    return await _push(request, uow, pusher, body.data, body.service, "data")


@router.get("/batches/{batch_id}", response_model=BatchDetailPublic,
            summary="A batch this client pushed, with every record's result")  # fmt: skip
async def get_batch(
    batch_id: Annotated[str, Path(pattern=UUID_PATTERN)], principal: Puller, uow: SyncUnitOfWorkDep
) -> Response:
    found = await inbound.batch(uow, client_of(principal), batch_id.lower())
    public = BatchDetailPublic.from_batch(found)
    return _answer(public.__pydantic_serializer__.to_json(public))


@router.put("/agencies/{agency_code}/status-mappings", summary="An agency's local status values → national 1–10",
            operation_id="putStatusMapping")  # fmt: skip
async def put_mapping(
    agency_code: AgencyCode, body: StatusMappingUpdate, principal: Admin, uow: SyncUnitOfWorkDep
) -> StatusMappingPublic:
    mapping = await inbound.set_mapping(uow, agency_code, body.mapping)
    return StatusMappingPublic(agency_code=agency_code, mapping=mapping)


# --- outbound: the registry, the pull feed, operators ---------------------------------------


@router.put("/agencies/{agency_code}/endpoint", summary="Where an agency takes its dossiers (operators)",
            operation_id="putAgencyEndpoint")  # fmt: skip
async def put_endpoint(
    request: Request, agency_code: AgencyCode, body: EndpointUpdate, principal: Admin, uow: SyncUnitOfWorkDep
) -> EndpointPublic:
    settings: SyncSettings = request.app.state.settings
    endpoint = await outbound.register_endpoint(uow, settings, agency_code, body.mode, body.url, body.secrets,
                                                fmt=body.format)  # fmt: skip
    return EndpointPublic.from_endpoint(endpoint, len(body.secrets))


FeedCursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=18,
        pattern=r"^[0-9]+$",
        description="Where the page starts: the `next` of the previous page (opaque; never built by the caller).",
    ),
]


@router.get("/feed", summary="Dossiers for the client's agencies that pull, after a cursor")
async def get_feed(
    request: Request,
    response: Response,
    principal: Puller,
    uow: SyncUnitOfWorkDep,
    cursor: FeedCursor = None,
    limit: Annotated[int, page_size(outbound.MAX_FEED_PAGE, 50)] = 50,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_ID, deprecated=True, description="The delivery id to list after (use `cursor`)."),
    ] = None,
) -> FeedPage:
    start = int(cursor) if cursor is not None else after or 0
    items = await outbound.pull(uow, client_of(principal), start, limit)
    page = FeedPage(items=[FeedItemPublic.from_item(i) for i in items],
                                next=str(items[-1].delivery_id) if items else None)  # fmt: skip
    link_next(request, response, page.next)
    return page


@router.post("/feed/ack", summary="Acknowledge dossiers taken from the feed")
async def ack_feed(body: AcknowledgementCreate, principal: Puller, uow: SyncUnitOfWorkDep) -> AcknowledgementPublic:
    return AcknowledgementPublic(acknowledged=await outbound.acknowledge(uow, client_of(principal), body.delivery_ids))


@router.get("/deliveries/failing", summary="Agencies whose deliveries fail, with counts (operators)",
            operation_id="getFailingDeliveries")  # fmt: skip
async def get_failing(principal: Admin, uow: SyncUnitOfWorkDep) -> FailingPublic:
    return FailingPublic(agencies=[FailingAgencyPublic.from_agency(a) for a in await outbound.failing(uow)])


@router.get("/deliveries/{delivery_id}", summary="A delivery and its attempts (operators)")
async def get_delivery(delivery_id: DeliveryId, principal: Admin, uow: SyncUnitOfWorkDep) -> DeliveryPublic:
    return DeliveryPublic.from_history(await outbound.delivery_detail(uow, delivery_id))


@router.post("/deliveries/{delivery_id}/redeliver", summary="Try a dead delivery again (operators)",
             operation_id="redeliverDelivery")  # fmt: skip
async def redeliver_one(delivery_id: DeliveryId, principal: Admin, uow: SyncUnitOfWorkDep) -> RedeliveryPublic:
    return RedeliveryPublic(redelivering=await outbound.redeliver(uow, delivery_id=delivery_id))


@router.post("/agencies/{agency_code}/redeliver", summary="Try an agency's dead deliveries again (operators)")
async def redeliver_agency(agency_code: AgencyCode, principal: Admin, uow: SyncUnitOfWorkDep) -> RedeliveryPublic:
    return RedeliveryPublic(redelivering=await outbound.redeliver(uow, agency_code=agency_code))
