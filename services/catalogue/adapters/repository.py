"""The catalogue's repositories on PostgreSQL: rows of the catalogue tables to entities and
back (the search documents and queries are in ``search``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.events.catalogue import DocumentComponent, Fee

from ..domain.model import (
    Agency,
    AgencyLevel,
    AgencyRef,
    AuditEntry,
    Faq,
    ImplementingLevel,
    Offering,
    OnlineLevel,
    OnlineService,
    Procedure,
    ProcedureRef,
    ProcedureStatus,
    Sector,
    ServiceDetail,
    ServiceStatus,
    ServiceVersion,
    VersionDefinition,
)
from .tables import (
    agencies,
    catalogue_audit,
    online_service_versions,
    online_services,
    procedure_faqs,
    procedures,
    sectors,
)

# Column values of a row and JSON as stored: they never leave this module (entities do).
Values = dict[str, object]


async def upsert(
    connection: AsyncConnection, table: Any, rows: Sequence[Values], keys: Sequence[str], *,
    overwrite: bool = True,
) -> None:  # fmt: skip
    """Insert ``rows``; existing ones (by ``keys``) are overwritten, or kept when not ``overwrite``."""
    if not rows:
        return
    statement = pg_insert(table).values(list(rows))
    changed = {c: statement.excluded[c] for c in rows[0] if c not in keys}
    if changed and overwrite:
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=changed)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    await connection.execute(statement)


def fees_of(stored: list[Values]) -> list[Fee]:
    # Stored fees were checked by the same model when written; one stored before ``condition:
    # null`` was kept gets its default back.
    return [Fee.model_validate(fee) for fee in stored]


def _json(models: Sequence[Fee | DocumentComponent]) -> list[Values]:
    return [model.model_dump(mode="json") for model in models]


class SqlSectors:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def get(self, code: str) -> Sector | None:
        row = (
            await self.connection.execute(select(sectors.c.code, sectors.c.name).where(sectors.c.code == code))
        ).first()
        return Sector(row.code, row.name) if row else None

    async def ensure(self, sector: Sector) -> None:
        await upsert(self.connection, sectors, [{"code": sector.code, "name": sector.name}], ["code"], overwrite=False)

    async def list(self) -> list[Sector]:
        result = await self.connection.execute(select(sectors.c.code, sectors.c.name).order_by(sectors.c.code))
        return [Sector(row.code, row.name) for row in result]


def _agency(row: Row[Any, Any, Any, Any, Any]) -> Agency:
    return Agency(row.code, row.name, AgencyLevel(row.level), row.parent_code, row.province_code)


def _agency_values(agency: Agency) -> Values:
    return {"code": agency.code, "name": agency.name, "level": agency.level.value, "parent_code": agency.parent_code,
            "province_code": agency.province_code, "updated_at": func.now()}  # fmt: skip


_AGENCY_COLUMNS = (agencies.c.code, agencies.c.name, agencies.c.level, agencies.c.parent_code, agencies.c.province_code)


class SqlAgencies:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def get(self, code: str) -> Agency | None:
        row = (await self.connection.execute(select(*_AGENCY_COLUMNS).where(agencies.c.code == code))).first()
        return _agency(row) if row else None

    async def save(self, agency: Agency) -> None:
        await upsert(self.connection, agencies, [_agency_values(agency)], ["code"])

    async def save_all(self, items: Sequence[Agency]) -> None:
        await upsert(self.connection, agencies, [_agency_values(a) for a in items], ["code"])

    async def list(self, parent: str | None, province: str | None) -> list[Agency]:
        query = select(*_AGENCY_COLUMNS)
        if parent is not None:
            query = query.where(agencies.c.parent_code == parent)
        if province is not None:
            query = query.where(agencies.c.province_code == province)
        return [_agency(row) for row in await self.connection.execute(query.order_by(agencies.c.code))]


def _procedure(row: Row[Any]) -> Procedure:
    return Procedure(
        code=row.code, name=row.name, sector_code=row.sector_code, sector_name=row.sector_name,
        level=ImplementingLevel(row.level), steps=list(row.steps),
        documents=[DocumentComponent.model_validate(d) for d in row.documents], processing_days=row.processing_days,
        fees=fees_of(row.fees), legal_basis=list(row.legal_basis), results=list(row.results),
        status=ProcedureStatus(row.status), revision=row.revision,
    )  # fmt: skip


class SqlProcedures:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def get(self, code: str, *, lock: bool = False) -> Procedure | None:
        query = (
            select(procedures, sectors.c.name.label("sector_name"))
            .select_from(procedures.join(sectors, sectors.c.code == procedures.c.sector_code))
            .where(procedures.c.code == code)
        )
        if lock:
            query = query.with_for_update(of=procedures)
        row = (await self.connection.execute(query)).first()
        return _procedure(row) if row else None

    async def save(self, procedure: Procedure) -> None:
        values: Values = {
            "code": procedure.code, "name": procedure.name, "sector_code": procedure.sector_code,
            "level": procedure.level.value, "steps": procedure.steps, "documents": _json(procedure.documents),
            "processing_days": procedure.processing_days, "fees": _json(procedure.fees),
            "legal_basis": procedure.legal_basis, "results": procedure.results, "status": procedure.status.value,
            "revision": procedure.revision, "updated_at": func.now(),
        }  # fmt: skip
        await upsert(self.connection, procedures, [values], ["code"])

    async def faq(self, code: str) -> list[Faq]:
        query = (
            select(procedure_faqs.c.question, procedure_faqs.c.answer)
            .where(procedure_faqs.c.procedure_code == code)
            .order_by(procedure_faqs.c.position)
        )
        return [Faq(row.question, row.answer) for row in await self.connection.execute(query)]

    async def replace_faq(self, code: str, faq: Sequence[Faq]) -> None:
        await self.connection.execute(delete(procedure_faqs).where(procedure_faqs.c.procedure_code == code))
        if faq:
            rows = [{"procedure_code": code, "position": i, "question": e.question, "answer": e.answer}
                    for i, e in enumerate(faq, start=1)]  # fmt: skip
            await self.connection.execute(insert(procedure_faqs).values(rows))


def _service(row: Row[Any]) -> OnlineService:
    return OnlineService(
        id=str(row.id), procedure_code=row.procedure_code, agency_code=row.agency_code,
        status=ServiceStatus(row.status), published_version=row.published_version, revision=row.revision,
    )  # fmt: skip


def _definition(row: Row[Any]) -> VersionDefinition:
    return VersionDefinition(
        online_level=OnlineLevel(row.online_level), form_schema=row.form_schema, fees=fees_of(row.fees),
        processing_days=row.processing_days, routing_target=row.routing_target, required_acr=row.required_acr,
    )  # fmt: skip


def _version(row: Row[Any]) -> ServiceVersion:
    return ServiceVersion(str(row.service_id), row.version, _definition(row), row.published_at)


def _definition_values(definition: VersionDefinition) -> Values:
    return {"online_level": definition.online_level.value, "form_schema": definition.form_schema,
            "fees": _json(definition.fees), "processing_days": definition.processing_days,
            "routing_target": definition.routing_target, "required_acr": definition.required_acr}  # fmt: skip


def _the_version(service_id: str, version: int) -> Any:
    return (online_service_versions.c.service_id == service_id) & (online_service_versions.c.version == version)


class SqlOnlineServices:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def get(self, service_id: str, *, lock: bool = False) -> OnlineService | None:
        query = select(online_services).where(online_services.c.id == service_id)
        if lock:
            query = query.with_for_update()
        row = (await self.connection.execute(query)).first()
        return _service(row) if row else None

    async def add(self, service: OnlineService) -> None:
        await self.connection.execute(
            insert(online_services).values(
                id=service.id, procedure_code=service.procedure_code, agency_code=service.agency_code,
                status=service.status.value, published_version=service.published_version, revision=service.revision,
            )
        )  # fmt: skip

    async def save(self, service: OnlineService) -> None:
        await self.connection.execute(
            update(online_services)
            .where(online_services.c.id == service.id)
            .values(status=service.status.value, published_version=service.published_version,
                    revision=service.revision, updated_at=func.now())
        )  # fmt: skip

    async def published_of(self, procedure_code: str) -> list[str]:
        query = (
            select(online_services.c.id)
            .where(online_services.c.procedure_code == procedure_code, online_services.c.status == "published")
            .order_by(online_services.c.id)
        )
        return [str(i) for i in await self.connection.scalars(query)]

    async def offerings(self, procedure_code: str) -> list[Offering]:
        query = (
            select(online_services.c.id, online_services.c.agency_code, agencies.c.name.label("agency_name"))
            .select_from(online_services.join(agencies, agencies.c.code == online_services.c.agency_code))
            .where(online_services.c.procedure_code == procedure_code, online_services.c.status == "published")
            .order_by(online_services.c.agency_code)
        )
        return [Offering(str(row.id), row.agency_code, row.agency_name) for row in await self.connection.execute(query)]

    async def draft(self, service_id: str) -> ServiceVersion | None:
        query = select(online_service_versions).where(
            online_service_versions.c.service_id == service_id, online_service_versions.c.published_at.is_(None)
        )
        row = (await self.connection.execute(query)).first()
        return _version(row) if row else None

    async def latest(self, service_id: str) -> ServiceVersion | None:
        query = (
            select(online_service_versions)
            .where(online_service_versions.c.service_id == service_id)
            .order_by(online_service_versions.c.version.desc())
            .limit(1)
            .with_for_update()
        )
        row = (await self.connection.execute(query)).first()
        return _version(row) if row else None

    async def add_version(self, version: ServiceVersion) -> None:
        await self.connection.execute(
            insert(online_service_versions).values(
                service_id=version.service_id, version=version.version, published_at=version.published_at,
                **_definition_values(version.definition),
            )
        )  # fmt: skip

    async def update_draft(self, service_id: str, version: int, definition: VersionDefinition) -> None:
        await self.connection.execute(
            update(online_service_versions)
            .where(_the_version(service_id, version))
            .values(**_definition_values(definition))
        )

    async def mark_published(self, service_id: str, version: int) -> None:
        await self.connection.execute(
            update(online_service_versions).where(_the_version(service_id, version)).values(published_at=func.now())
        )

    async def detail(self, service_id: str, version: int | None) -> ServiceDetail | None:
        number = online_services.c.published_version if version is None else version
        query = (
            select(
                online_services.c.id, online_services.c.status, online_services.c.published_version,
                online_services.c.procedure_code, procedures.c.name.label("procedure_name"), procedures.c.sector_code,
                procedures.c.level, online_services.c.agency_code, agencies.c.name.label("agency_name"),
                agencies.c.province_code, online_service_versions.c.version, online_service_versions.c.online_level,
                online_service_versions.c.form_schema, online_service_versions.c.fees,
                online_service_versions.c.processing_days, online_service_versions.c.routing_target,
                online_service_versions.c.published_at, online_service_versions.c.required_acr,
            )
            .select_from(
                online_services.join(procedures, procedures.c.code == online_services.c.procedure_code)
                .join(agencies, agencies.c.code == online_services.c.agency_code)
                .join(online_service_versions, (online_service_versions.c.service_id == online_services.c.id)
                      & (online_service_versions.c.version == number))
            )
            .where(online_services.c.id == service_id, online_service_versions.c.published_at.is_not(None))
        )  # fmt: skip
        row = (await self.connection.execute(query)).first()
        if row is None:
            return None
        return ServiceDetail(
            id=str(row.id), status=ServiceStatus(row.status), version=row.version,
            current_version=row.published_version, published_at=row.published_at,
            procedure=ProcedureRef(row.procedure_code, row.procedure_name),
            agency=AgencyRef(row.agency_code, row.agency_name, row.province_code), sector_code=row.sector_code,
            level=ImplementingLevel(row.level), online_level=OnlineLevel(row.online_level),
            processing_days=row.processing_days, fees=fees_of(row.fees), routing_target=row.routing_target,
            form_schema=row.form_schema, required_acr=row.required_acr,
        )  # fmt: skip


class SqlAudit:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def record(self, entry: AuditEntry) -> None:
        await self.connection.execute(
            insert(catalogue_audit).values(actor=entry.actor, action=entry.action, entity=entry.entity,
                                           changes=entry.changes, request_id=entry.request_id)
        )  # fmt: skip

    async def of(self, entity: str, limit: int) -> list[AuditEntry]:
        query = (
            select(catalogue_audit.c.at, catalogue_audit.c.actor, catalogue_audit.c.action, catalogue_audit.c.changes,
                   catalogue_audit.c.request_id)
            .where(catalogue_audit.c.entity == entity)
            .order_by(catalogue_audit.c.id.desc())
            .limit(limit)
        )  # fmt: skip
        return [
            AuditEntry(row.at, row.actor, row.action, entity, row.changes, row.request_id)
            for row in await self.connection.execute(query)
        ]
