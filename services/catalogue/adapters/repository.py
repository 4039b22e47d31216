"""Reads and writes of the catalogue tables (the search documents and queries are in ``search``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import (
    agencies,
    catalogue_audit,
    online_service_versions,
    online_services,
    procedure_faqs,
    procedures,
    sectors,
)

# --- reads ----------------------------------------------------------------------------------


def _service_columns() -> list[Any]:
    return [
        online_services.c.id,
        online_services.c.status,
        online_services.c.published_version,
        online_services.c.procedure_code,
        procedures.c.name.label("procedure_name"),
        procedures.c.sector_code,
        procedures.c.level,
        online_services.c.agency_code,
        agencies.c.name.label("agency_name"),
        agencies.c.province_code,
    ]


def _service_join() -> Any:
    return online_services.join(procedures, procedures.c.code == online_services.c.procedure_code).join(
        agencies, agencies.c.code == online_services.c.agency_code
    )


async def service_with_version(session: AsyncConnection, service_id: str, version: int | None) -> dict[str, Any] | None:
    """A service with one of its published versions (its current one when ``version`` is None)."""
    number = online_services.c.published_version if version is None else version
    query = (
        select(
            *_service_columns(),
            online_service_versions.c.version,
            online_service_versions.c.online_level,
            online_service_versions.c.form_schema,
            online_service_versions.c.fees,
            online_service_versions.c.processing_days,
            online_service_versions.c.routing_target,
            online_service_versions.c.published_at,
        )
        .select_from(
            _service_join().join(
                online_service_versions,
                (online_service_versions.c.service_id == online_services.c.id)
                & (online_service_versions.c.version == number),
            )
        )
        .where(online_services.c.id == service_id, online_service_versions.c.published_at.is_not(None))
    )
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row else None


async def latest_version(session: AsyncConnection, service_id: str) -> dict[str, Any] | None:
    query = (
        select(online_service_versions)
        .where(online_service_versions.c.service_id == service_id)
        .order_by(online_service_versions.c.version.desc())
        .limit(1)
        .with_for_update()
    )
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row else None


async def procedure_rows(session: AsyncConnection, codes: Sequence[str]) -> dict[str, dict[str, Any]]:
    query = (
        select(procedures, sectors.c.name.label("sector_name"))
        .select_from(procedures.join(sectors, sectors.c.code == procedures.c.sector_code))
        .where(procedures.c.code.in_(list(codes)))
    )
    return {row.code: dict(row._mapping) for row in await session.execute(query)}


async def faqs_of(session: AsyncConnection, code: str) -> list[dict[str, Any]]:
    query = (
        select(procedure_faqs.c.question, procedure_faqs.c.answer)
        .where(procedure_faqs.c.procedure_code == code)
        .order_by(procedure_faqs.c.position)
    )
    return [dict(row._mapping) for row in await session.execute(query)]


async def services_of_procedure(session: AsyncConnection, code: str) -> list[dict[str, Any]]:
    query = (
        select(online_services.c.id, online_services.c.agency_code, agencies.c.name.label("agency_name"))
        .select_from(online_services.join(agencies, agencies.c.code == online_services.c.agency_code))
        .where(online_services.c.procedure_code == code, online_services.c.status == "published")
        .order_by(online_services.c.agency_code)
    )
    return [{**row._mapping, "id": str(row.id)} for row in await session.execute(query)]


async def agency_rows(session: AsyncConnection, parent: str | None, province: str | None) -> list[dict[str, Any]]:
    query = select(agencies.c.code, agencies.c.name, agencies.c.level, agencies.c.parent_code, agencies.c.province_code)
    if parent is not None:
        query = query.where(agencies.c.parent_code == parent)
    if province is not None:
        query = query.where(agencies.c.province_code == province)
    return [dict(row._mapping) for row in await session.execute(query.order_by(agencies.c.code))]


async def sector_rows(session: AsyncConnection) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in await session.execute(select(sectors).order_by(sectors.c.code))]


# --- fixtures -------------------------------------------------------------------------------


async def upsert(
    session: AsyncConnection, table: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str], *, overwrite: bool = True
) -> None:
    """Insert ``rows``; existing ones (by ``keys``) are overwritten, or kept when not ``overwrite``."""
    if not rows:
        return
    statement = pg_insert(table).values(list(rows))
    changed = {c: statement.excluded[c] for c in rows[0] if c not in keys}
    if changed and overwrite:
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=changed)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    await session.execute(statement)


# --- editing --------------------------------------------------------------------------------


async def lock_procedure(session: AsyncConnection, code: str) -> dict[str, Any] | None:
    """The procedure row, locked until the transaction ends (with its sector's name)."""
    query = (
        select(procedures, sectors.c.name.label("sector_name"))
        .select_from(procedures.join(sectors, sectors.c.code == procedures.c.sector_code))
        .where(procedures.c.code == code)
        .with_for_update(of=procedures)
    )
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row else None


async def ensure_sector(session: AsyncConnection, code: str, name: str) -> None:
    """Create the sector when it is new; an existing sector keeps its name."""
    await upsert(session, sectors, [{"code": code, "name": name}], ["code"], overwrite=False)


async def sector_exists(session: AsyncConnection, code: str) -> bool:
    return (await session.scalar(select(sectors.c.code).where(sectors.c.code == code))) is not None


async def agency_row(session: AsyncConnection, code: str) -> dict[str, Any] | None:
    row = (await session.execute(select(agencies).where(agencies.c.code == code))).first()
    return dict(row._mapping) if row else None


async def write_agency(session: AsyncConnection, values: dict[str, Any]) -> None:
    await upsert(session, agencies, [{**values, "updated_at": func.now()}], ["code"])


async def replace_faqs(session: AsyncConnection, code: str, entries: Sequence[dict[str, str]]) -> None:
    await session.execute(delete(procedure_faqs).where(procedure_faqs.c.procedure_code == code))
    if entries:
        rows = [{"procedure_code": code, "position": i, **e} for i, e in enumerate(entries, start=1)]
        await session.execute(insert(procedure_faqs).values(rows))


async def write_procedure(session: AsyncConnection, values: dict[str, Any]) -> None:
    """Insert or overwrite the procedure row ``values`` (which carries its new revision)."""
    await upsert(session, procedures, [{**values, "updated_at": func.now()}], ["code"])


async def lock_service(session: AsyncConnection, service_id: str) -> dict[str, Any] | None:
    row = (
        await session.execute(select(online_services).where(online_services.c.id == service_id).with_for_update())
    ).first()
    return dict(row._mapping) if row else None


async def insert_service(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(insert(online_services).values(**values))


async def draft_of(session: AsyncConnection, service_id: str) -> dict[str, Any] | None:
    """The unpublished version being edited, if there is one."""
    query = select(online_service_versions).where(
        online_service_versions.c.service_id == service_id, online_service_versions.c.published_at.is_(None)
    )
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row else None


async def insert_version(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(insert(online_service_versions).values(**values))


async def update_draft(session: AsyncConnection, service_id: str, version: int, values: dict[str, Any]) -> None:
    await session.execute(
        update(online_service_versions)
        .where(online_service_versions.c.service_id == service_id, online_service_versions.c.version == version)
        .values(**values)
    )


async def publish_version(session: AsyncConnection, service_id: str, version: int, revision: int) -> None:
    """The draft ``version`` becomes the current one; returns nothing, the caller holds the lock."""
    await session.execute(
        update(online_service_versions)
        .where(online_service_versions.c.service_id == service_id, online_service_versions.c.version == version)
        .values(published_at=func.now())
    )
    await set_service_state(session, service_id, status="published", revision=revision, published_version=version)


async def set_service_state(session: AsyncConnection, service_id: str, **values: Any) -> None:
    await session.execute(
        update(online_services).where(online_services.c.id == service_id).values(**values, updated_at=func.now())
    )


async def published_services_of(session: AsyncConnection, procedure_code: str) -> list[str]:
    query = (
        select(online_services.c.id)
        .where(online_services.c.procedure_code == procedure_code, online_services.c.status == "published")
        .order_by(online_services.c.id)
    )
    return [str(i) for i in await session.scalars(query)]


async def record_audit(session: AsyncConnection, entry: dict[str, Any]) -> None:
    await session.execute(insert(catalogue_audit).values(**entry))


async def audit_of(session: AsyncConnection, entity: str, limit: int) -> list[dict[str, Any]]:
    query = (
        select(catalogue_audit.c.at, catalogue_audit.c.actor, catalogue_audit.c.action, catalogue_audit.c.changes,
               catalogue_audit.c.request_id)
        .where(catalogue_audit.c.entity == entity)
        .order_by(catalogue_audit.c.id.desc())
        .limit(limit)
    )  # fmt: skip
    return [dict(row._mapping) for row in await session.execute(query)]
