"""The sync API for agency systems (machine clients, scope ``sync:push``): status records in
the portal's own JSON format (``/records``) or in the format provincial systems already speak
(``/compat``: ``{"service": "DongBoHoSoMC" | "CapNhatTienDoHoSoMC", "isUpdating", "data"}``),
each answered record by record; a batch's results read again; and the agencies' status
mappings (``sync:admin``). Pushes are rate-limited per client (429 with ``Retry-After``)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ConfigDict, Field

from services.kit.app import UnitOfWorkDep
from services.kit.auth import Principal, require_scopes
from services.kit.errors import RateLimited
from services.kit.ratelimit import TokenBucketLimiter
from services.kit.schemas import MAX_STRING, StrictModel

from ..domain.records import MAX_RECORDS
from ..service import inbound, outbound
from ..settings import SyncSettings

router = APIRouter(tags=["sync"])
MAX_CLIENTS_TRACKED = 10_000
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
AgencyCode = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.]+$")]
# Delivery ids are PostgreSQL bigints: a larger number names nothing and is refused (422), not
# passed to the database (which cannot bind it: a 500).
MAX_ID = 2**63 - 1
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID)]


def pusher_of(principal: Principal) -> inbound.Pusher:
    agencies = principal.claims.get("agencies") or []
    return inbound.Pusher(principal.client_id or principal.subject,
                          frozenset(a for a in agencies if isinstance(a, str)))  # fmt: skip


async def rate_limited_pusher(
    request: Request, principal: Annotated[Principal, require_scopes("sync:push")]
) -> inbound.Pusher:
    settings: SyncSettings = request.app.state.settings
    limiter = getattr(request.app.state, "push_limiter", None)
    if limiter is None:
        limiter = TokenBucketLimiter(settings.push_rate_per_minute, settings.push_burst, MAX_CLIENTS_TRACKED)
        request.app.state.push_limiter = limiter
    pusher = pusher_of(principal)
    wait = limiter.acquire(pusher.client_id)
    if wait:
        raise RateLimited(max(1, math.ceil(wait)), f"Too many pushes from {pusher.client_id}; slow down.")
    return pusher


Pusher = Annotated[inbound.Pusher, Depends(rate_limited_pusher)]


class MachineBody(StrictModel):
    """A body machines send: types are exact (``true``, not ``1`` or ``"yes"``; ``4``, not
    ``"4"``), so a sender's bug is refused where it is, not guessed at."""

    model_config = ConfigDict(strict=True)


class RecordsBody(MachineBody):
    # Each record is read by the domain, so that one bad record is rejected alone.
    records: Annotated[list[Any], Field(min_length=1, max_length=MAX_RECORDS)]


class CompatBody(MachineBody):
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_STRING, str_strip_whitespace=True,
                              populate_by_name=True, strict=True)  # fmt: skip

    service: Literal["DongBoHoSoMC", "CapNhatTienDoHoSoMC"]
    is_updating: bool = Field(default=False, alias="isUpdating")
    data: Annotated[list[Any], Field(min_length=1, max_length=MAX_RECORDS)]


class MappingBody(MachineBody):
    mapping: Annotated[dict[Annotated[str, Field(min_length=1, max_length=50)], Annotated[int, Field(ge=1, le=10)]],
                       Field(max_length=200)]  # fmt: skip


def _limits(request: Request) -> dict[str, int]:
    settings: SyncSettings = request.app.state.settings
    return {"max_records": settings.max_records_per_batch, "clock_skew_seconds": settings.clock_skew_seconds}


@router.post("/records", summary="Push status records (the portal's JSON format); answers each record")
async def push_records(request: Request, body: RecordsBody, pusher: Pusher, uow: UnitOfWorkDep) -> dict[str, Any]:
    return await inbound.push(uow, pusher, body.records, fmt="portal", prefix="records", **_limits(request))


@router.post("/compat", summary="Push in the provincial format (DongBoHoSoMC, CapNhatTienDoHoSoMC)",
             operation_id="pushCompatRecords")  # fmt: skip
async def push_compat(request: Request, body: CompatBody, pusher: Pusher, uow: UnitOfWorkDep) -> dict[str, Any]:
    return await inbound.push(uow, pusher, body.data, fmt=body.service, prefix="data", **_limits(request))


@router.get("/batches/{batch_id}", summary="A batch this client pushed, with every record's result")
async def get_batch(
    batch_id: Annotated[str, Path(pattern=UUID_PATTERN)],
    principal: Annotated[Principal, require_scopes("sync:push")],
    uow: UnitOfWorkDep,
) -> dict[str, Any]:
    return await inbound.batch(uow, pusher_of(principal), batch_id.lower())


@router.put("/agencies/{agency_code}/status-mappings", summary="An agency's local status values → national 1–10",
            operation_id="putStatusMapping")  # fmt: skip
async def put_mapping(
    agency_code: AgencyCode,
    body: MappingBody,
    principal: Annotated[Principal, require_scopes("sync:admin")],
    uow: UnitOfWorkDep,
) -> dict[str, Any]:
    return await inbound.set_mapping(uow, agency_code, body.mapping)


# --- outbound: the registry, the pull feed, operators ---------------------------------------

Admin = Annotated[Principal, require_scopes("sync:admin")]


class EndpointBody(MachineBody):
    mode: Literal["push", "pull"]
    # What the agency's system reads: the portal's JSON, or the provinces' DongBoHoSoMC.
    format: Literal["portal", "compat"] = "portal"
    url: Annotated[str | None, Field(max_length=2000)] = None
    # Signing secrets, the current one first (two while the agency switches).
    secrets: Annotated[list[Annotated[str, Field(min_length=32, max_length=200)]], Field(max_length=2)] = Field(
        default_factory=list
    )


class AckBody(MachineBody):
    delivery_ids: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(min_length=1, max_length=200)]


@router.put("/agencies/{agency_code}/endpoint", summary="Where an agency takes its dossiers (operators)",
            operation_id="putAgencyEndpoint")  # fmt: skip
async def put_endpoint(
    request: Request, agency_code: AgencyCode, body: EndpointBody, principal: Admin, uow: UnitOfWorkDep
) -> dict[str, Any]:
    settings: SyncSettings = request.app.state.settings
    return await outbound.register_endpoint(uow, settings, agency_code, body.mode, body.url, body.secrets,
                                            fmt=body.format)  # fmt: skip


@router.get("/feed", summary="Dossiers for the client's agencies that pull, after a cursor")
async def get_feed(
    principal: Annotated[Principal, require_scopes("sync:push")],
    uow: UnitOfWorkDep,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=outbound.MAX_FEED_PAGE)] = 50,
) -> dict[str, Any]:
    return await outbound.pull(uow, pusher_of(principal), after, limit)


@router.post("/feed/ack", summary="Acknowledge dossiers taken from the feed")
async def ack_feed(
    body: AckBody, principal: Annotated[Principal, require_scopes("sync:push")], uow: UnitOfWorkDep
) -> dict[str, Any]:
    return await outbound.acknowledge(uow, pusher_of(principal), body.delivery_ids)


@router.get("/deliveries/failing", summary="Agencies whose deliveries fail, with counts (operators)",
            operation_id="getFailingDeliveries")  # fmt: skip
async def get_failing(principal: Admin, uow: UnitOfWorkDep) -> dict[str, Any]:
    return await outbound.failing(uow)


@router.get("/deliveries/{delivery_id}", summary="A delivery and its attempts (operators)")
async def get_delivery(delivery_id: DeliveryId, principal: Admin, uow: UnitOfWorkDep) -> dict[str, Any]:
    return await outbound.delivery_detail(uow, delivery_id)


@router.post("/deliveries/{delivery_id}/redeliver", summary="Try a dead delivery again (operators)",
             operation_id="redeliverDelivery")  # fmt: skip
async def redeliver_one(delivery_id: DeliveryId, principal: Admin, uow: UnitOfWorkDep) -> dict[str, Any]:
    return await outbound.redeliver(uow, delivery_id=delivery_id)


@router.post("/agencies/{agency_code}/redeliver", summary="Try an agency's dead deliveries again (operators)")
async def redeliver_agency(agency_code: AgencyCode, principal: Admin, uow: UnitOfWorkDep) -> dict[str, Any]:
    return await outbound.redeliver(uow, agency_code=agency_code)
