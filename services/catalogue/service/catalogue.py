"""Use cases of the public catalogue: details of services (any published version stays
readable) and procedures, agencies and sectors. Search is in ``search``, writes in ``editor``."""

from __future__ import annotations

from typing import Any

from services.kit.db import UnitOfWork
from services.kit.errors import NotFound

from ..adapters import repository as repo
from .editor import with_all_keys


async def service_detail(uow: UnitOfWork, service_id: str, version: int | None = None) -> dict[str, Any]:
    """An online service with its form schema and fees: its current published version, or the
    numbered one (kept readable after newer versions are published)."""
    row = await repo.service_with_version(uow.connection, service_id, version)
    if row is None or (version is None and row["status"] != "published"):
        what = "online service" if version is None else f"version {version} of online service"
        raise NotFound(f"No {what} {service_id}.")
    return {
        "id": str(row["id"]),
        "status": row["status"],
        "version": row["version"],
        "current_version": row["published_version"],
        "published_at": row["published_at"].isoformat(),
        "procedure": {"code": row["procedure_code"], "name": row["procedure_name"]},
        "agency": {"code": row["agency_code"], "name": row["agency_name"], "province_code": row["province_code"]},
        "sector_code": row["sector_code"],
        "level": row["level"],
        "online_level": row["online_level"],
        "processing_days": row["processing_days"],
        "fees": [with_all_keys(fee) for fee in row["fees"]],
        "routing_target": row["routing_target"],
        "form_schema": row["form_schema"],
    }


async def procedure_detail(uow: UnitOfWork, code: str) -> dict[str, Any]:
    rows = await repo.procedure_rows(uow.connection, [code])
    if code not in rows:
        raise NotFound(f"No procedure {code}.")
    row = rows[code]
    return {
        "code": row["code"],
        "name": row["name"],
        "sector": {"code": row["sector_code"], "name": row["sector_name"]},
        "level": row["level"],
        "status": row["status"],
        "steps": row["steps"],
        "documents": row["documents"],
        "processing_days": row["processing_days"],
        "fees": row["fees"],
        "legal_basis": row["legal_basis"],
        "results": row["results"],
        "faq": await repo.faqs_of(uow.connection, code),
        "online_services": await repo.services_of_procedure(uow.connection, code),
    }


async def list_agencies(uow: UnitOfWork, parent: str | None, province: str | None) -> list[dict[str, Any]]:
    return await repo.agency_rows(uow.connection, parent, province)


async def list_sectors(uow: UnitOfWork) -> list[dict[str, Any]]:
    return await repo.sector_rows(uow.connection)
