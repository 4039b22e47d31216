"""The sync API for agency systems (machine clients, scope ``sync:push``): status records in
the portal's own JSON format (``/records``) or in the format provincial systems already speak
(``/compat``: ``{"service": "DongBoHoSoMC" | "CapNhatTienDoHoSoMC", "isUpdating", "data"}``),
each answered record by record; a batch's results read again; and the agencies' status
mappings (``sync:admin``). Pushes are rate-limited per client (429 with ``Retry-After``)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import ConfigDict, Field

from services.kit.app import UnitOfWorkDep
from services.kit.auth import Principal, require_scopes
from services.kit.errors import RateLimited
from services.kit.ratelimit import TokenBucketLimiter
from services.kit.schemas import MAX_STRING, StrictModel

from ..domain.records import MAX_RECORDS
from ..service import inbound
from ..settings import SyncSettings

router = APIRouter(tags=["sync"])
MAX_CLIENTS_TRACKED = 10_000
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
AgencyCode = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.]+$")]


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


class RecordsBody(StrictModel):
    # Each record is read by the domain, so that one bad record is rejected alone.
    records: Annotated[list[Any], Field(min_length=1, max_length=MAX_RECORDS)]


class CompatBody(StrictModel):
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_STRING, str_strip_whitespace=True,
                              populate_by_name=True)  # fmt: skip

    service: Literal["DongBoHoSoMC", "CapNhatTienDoHoSoMC"]
    is_updating: bool = Field(default=False, alias="isUpdating")
    data: Annotated[list[Any], Field(min_length=1, max_length=MAX_RECORDS)]


class MappingBody(StrictModel):
    mapping: Annotated[dict[Annotated[str, Field(min_length=1, max_length=50)], Annotated[int, Field(ge=1, le=10)]],
                       Field(max_length=200)]  # fmt: skip


def _max(request: Request) -> int:
    return int(request.app.state.settings.max_records_per_batch)


@router.post("/records", summary="Push status records (the portal's JSON format); answers each record")
async def push_records(request: Request, body: RecordsBody, pusher: Pusher, uow: UnitOfWorkDep) -> dict[str, Any]:
    return await inbound.push(uow, pusher, body.records, fmt="portal", prefix="records", max_records=_max(request))


@router.post("/compat", summary="Push in the provincial format (DongBoHoSoMC, CapNhatTienDoHoSoMC)")
async def push_compat(request: Request, body: CompatBody, pusher: Pusher, uow: UnitOfWorkDep) -> dict[str, Any]:
    return await inbound.push(uow, pusher, body.data, fmt=body.service, prefix="data", max_records=_max(request))


@router.get("/batches/{batch_id}", summary="A batch this client pushed, with every record's result")
async def get_batch(
    batch_id: Annotated[str, Path(pattern=UUID_PATTERN)],
    principal: Annotated[Principal, require_scopes("sync:push")],
    uow: UnitOfWorkDep,
) -> dict[str, Any]:
    return await inbound.batch(uow, pusher_of(principal), batch_id.lower())


@router.put("/agencies/{agency_code}/status-mappings", summary="An agency's local status values → national 1–10")
async def put_mapping(
    agency_code: AgencyCode,
    body: MappingBody,
    principal: Annotated[Principal, require_scopes("sync:admin")],
    uow: UnitOfWorkDep,
) -> dict[str, Any]:
    return await inbound.set_mapping(uow, agency_code, body.mapping)
