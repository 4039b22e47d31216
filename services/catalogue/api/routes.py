"""The public read API of the catalogue (no token): search, details, agencies, sectors.

Every answer is cacheable: ``ETag`` is a hash of the body, ``If-None-Match`` answers 304.
Query parameters are declared models that refuse unknown names, so a typo is a 422 problem
rather than a silently ignored filter.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import Field

from services.kit.caching import NOT_MODIFIED, cached_json
from services.kit.errors import ValidationFailed
from services.kit.pagination import Cursor, link_next, page_size
from services.kit.schemas import StrictModel

from ..domain.model import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_QUERY_LENGTH,
    ImplementingLevel,
    OnlineLevel,
    SearchFilters,
)
from ..service import catalogue, search
from .dependencies import CatalogueUnitOfWorkDep
from .schemas import (
    AgencyList,
    AgencyPublic,
    OnlineServicePublic,
    ProcedurePage,
    ProcedurePublic,
    SectorList,
    SectorPublic,
    ServicePage,
)


def refuse_repeated_parameters(request: Request) -> None:
    """Every parameter here takes one value: ``?level=a&level=b`` is ambiguous, not a union."""
    names = [name for name, _ in request.query_params.multi_items()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValidationFailed(
            [{"field": f"query.{name}", "location": "query", "message": "Given more than once."} for name in repeated]
        )


router = APIRouter(dependencies=[Depends(refuse_repeated_parameters)])

CACHE_CONTROL = "public, max-age=60"
AgencyCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.]+$")]
ProvinceCode = Annotated[str, Field(min_length=1, max_length=10, pattern=r"^[0-9A-Za-z]+$")]
SectorCode = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[0-9A-Za-z_.-]+$")]
ServiceId = Annotated[
    str, Path(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
]


class PageQuery(StrictModel):
    # Control characters (NUL above all) have no place in words and PostgreSQL refuses NUL.
    q: Annotated[str | None, Field(max_length=MAX_QUERY_LENGTH, pattern=r"^[^\x00-\x1f\x7f]*$")] = None
    sector: SectorCode | None = None
    level: ImplementingLevel | None = None
    # On procedures: those offered by a published service of that agency / province / level.
    agency: AgencyCode | None = None
    province: ProvinceCode | None = None
    online_level: OnlineLevel | None = None
    cursor: Cursor = None
    limit: Annotated[int, page_size(MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE


class ServiceQuery(PageQuery):
    pass


class ProcedureQuery(PageQuery):
    pass


class AgencyQuery(StrictModel):
    parent: AgencyCode | None = None
    province: ProvinceCode | None = None


class NoQuery(StrictModel):
    pass


def cached(request: Request, body: Any) -> Response:
    """``body`` (JSON, or dataclasses of the domain as their fields) as a cacheable answer."""
    return cached_json(request, body, CACHE_CONTROL)


def cached_page(request: Request, items: list[Any], next_cursor: str | None) -> Response:
    # The domain's summaries go to JSON as they are (no model per row: search is the hot path);
    # their fields are the page schema's (a test holds the two together).
    response = cached(request, {"items": items, "next": next_cursor})
    link_next(request, response, next_cursor)
    return response


def _filters(query: PageQuery) -> SearchFilters:
    values = query.model_dump(exclude={"cursor", "limit"})
    q = (values.get("q") or "").strip() or None
    return SearchFilters(**{**values, "q": q})


@router.get("/services", summary="Search published online services", responses=NOT_MODIFIED,
            response_model=ServicePage)  # fmt: skip
async def search_services(
    request: Request, query: Annotated[ServiceQuery, Query()], uow: CatalogueUnitOfWorkDep
) -> Response:
    page = await search.search_services(uow, _filters(query), query.cursor, query.limit)
    return cached_page(request, page.items, page.next)


@router.get("/services/{service_id}", summary="An online service's current published version", responses=NOT_MODIFIED,
            response_model=OnlineServicePublic)  # fmt: skip
async def get_service(
    request: Request, service_id: ServiceId, query: Annotated[NoQuery, Query()], uow: CatalogueUnitOfWorkDep
) -> Response:
    detail = await catalogue.service_detail(uow, service_id.lower())
    return cached(request, OnlineServicePublic.of(detail).model_dump(mode="json"))


@router.get(
    "/services/{service_id}/versions/{version}",
    summary="One published version of an online service",
    responses=NOT_MODIFIED,
    response_model=OnlineServicePublic,
)
async def get_service_version(
    request: Request,
    service_id: ServiceId,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    query: Annotated[NoQuery, Query()],
    uow: CatalogueUnitOfWorkDep,
) -> Response:
    detail = await catalogue.service_detail(uow, service_id.lower(), version)
    return cached(request, OnlineServicePublic.of(detail).model_dump(mode="json"))


@router.get("/procedures", summary="Search procedures", responses=NOT_MODIFIED, response_model=ProcedurePage)
async def search_procedures(
    request: Request, query: Annotated[ProcedureQuery, Query()], uow: CatalogueUnitOfWorkDep
) -> Response:
    page = await search.search_procedures(uow, _filters(query), query.cursor, query.limit)
    return cached_page(request, page.items, page.next)


@router.get("/procedures/{code}", summary="A procedure with its FAQ and the services offering it",
            responses=NOT_MODIFIED, response_model=ProcedurePublic)  # fmt: skip
async def get_procedure(
    request: Request,
    code: Annotated[str, Path(max_length=20, pattern=r"^[0-9]+\.[0-9]+$")],
    query: Annotated[NoQuery, Query()],
    uow: CatalogueUnitOfWorkDep,
) -> Response:
    detail = await catalogue.procedure_detail(uow, code)
    return cached(request, ProcedurePublic.of(detail).model_dump(mode="json"))


@router.get("/agencies", summary="Agencies, filtered by parent or province", responses=NOT_MODIFIED,
            response_model=AgencyList)  # fmt: skip
async def list_agencies(
    request: Request, query: Annotated[AgencyQuery, Query()], uow: CatalogueUnitOfWorkDep
) -> Response:
    agencies = await catalogue.list_agencies(uow, query.parent, query.province)
    return cached(request, AgencyList(items=[AgencyPublic.of(a) for a in agencies]).model_dump(mode="json"))


@router.get("/sectors", summary="Sectors (lĩnh vực)", responses=NOT_MODIFIED, response_model=SectorList)
async def list_sectors(request: Request, query: Annotated[NoQuery, Query()], uow: CatalogueUnitOfWorkDep) -> Response:
    sectors = await catalogue.list_sectors(uow)
    return cached(request, SectorList(items=[SectorPublic.of(s) for s in sectors]).model_dump(mode="json"))
