"""Use cases of the public catalogue: details of services (any published version stays
readable) and procedures, agencies and sectors. Search is in ``search``, writes in ``editor``."""

from __future__ import annotations

from services.kit.errors import NotFound

from ..domain.model import Agency, ProcedureDetail, Sector, ServiceDetail, ServiceStatus
from .unit_of_work import CatalogueUnitOfWork


async def service_detail(uow: CatalogueUnitOfWork, service_id: str, version: int | None = None) -> ServiceDetail:
    """An online service with its form schema and fees: its current published version, or the
    numbered one (kept readable after newer versions are published)."""
    detail = await uow.services.detail(service_id, version)
    if detail is None or (version is None and detail.status != ServiceStatus.PUBLISHED):
        what = "online service" if version is None else f"version {version} of online service"
        raise NotFound(f"No {what} {service_id}.")
    return detail


async def procedure_detail(uow: CatalogueUnitOfWork, code: str) -> ProcedureDetail:
    procedure = await uow.procedures.get(code)
    if procedure is None:
        raise NotFound(f"No procedure {code}.")
    return ProcedureDetail(procedure, await uow.procedures.faq(code), await uow.services.offerings(code))


async def list_agencies(uow: CatalogueUnitOfWork, parent: str | None, province: str | None) -> list[Agency]:
    return await uow.agencies.list(parent, province)


async def list_sectors(uow: CatalogueUnitOfWork) -> list[Sector]:
    return await uow.sectors.list()
