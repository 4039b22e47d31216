"""Reads and writes of the catalogue read model (``catalogue_*`` tables).

Writes are conditional upserts (``INSERT … ON CONFLICT DO UPDATE … WHERE stored.revision <
excluded.revision``): the use case decides with the domain rules on rows it has locked, and the
statement enforces the same rule again, so even two writers of one aggregate (which the Kafka
key rules out) could not let an older revision overwrite a newer one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.events.catalogue import OnlineServicePublished, ProcedureDefinition
from services.kit.logging import get_logger

from ..domain.catalogue_view import (
    KnownProcedure,
    OfferedFee,
    OfferedVersion,
    ProcedureState,
    ProcedureStatus,
    RequiredDocument,
    ServiceState,
    ServiceStatus,
)
from .tables import catalogue_procedures, catalogue_service_versions, catalogue_services

log = get_logger(__name__)

# Told the id of an online service whose definition or state changed here, when that commits.
SERVICE_CHANGED_CHANNEL = "dossier_catalogue_service_changed"

# --- online services ------------------------------------------------------------------------


async def lock_service(session: AsyncConnection, service_id: str) -> ServiceState | None:
    """The service's current state, its row locked until the transaction ends (None: unknown)."""
    query = (
        select(catalogue_services.c.revision, catalogue_services.c.status, catalogue_services.c.current_version)
        .where(catalogue_services.c.service_id == service_id)
        .with_for_update()
    )
    row = (await session.execute(query)).first()
    return ServiceState(row.revision, ServiceStatus(row.status), row.current_version) if row else None


async def lock_version_revision(session: AsyncConnection, service_id: str, version: int) -> int | None:
    """The revision that stored this version's definition (None: never seen), row locked."""
    query = (
        select(catalogue_service_versions.c.revision)
        .where(catalogue_service_versions.c.service_id == service_id, catalogue_service_versions.c.version == version)
        .with_for_update()
    )
    return (await session.execute(query)).scalar_one_or_none()


# Rows as dicts stay in this module: ``SqlCatalogueView`` takes the events' models and hands out
# values (``ServiceState``, ``OfferedVersion``, ``KnownProcedure``).
Row = dict[str, object]  # a row's values by column, made here from an event's model and written


async def save_published_service(
    session: AsyncConnection, service_id: str, state: ServiceState, current: Row, changed_at: datetime
) -> bool:
    """Make ``state`` (published, with ``current``: procedure_code, agency_code, province_code,
    online_level, routing_target of its version) the service's state unless a revision as high
    is stored. True when written."""
    values = {
        "service_id": service_id,
        "revision": state.revision,
        "status": state.status.value,
        "current_version": state.current_version,
        **current,
        "changed_at": changed_at,
    }
    return await _upsert_newer(session, catalogue_services, ["service_id"], values)


async def save_retired_service(
    session: AsyncConnection, service_id: str, state: ServiceState, changed_at: datetime
) -> bool:
    """Retire the service at ``state.revision`` unless a revision as high is stored; what
    describes its current version stays. True when written."""
    values = {
        "service_id": service_id,
        "revision": state.revision,
        "status": state.status.value,
        "current_version": state.current_version,
        "changed_at": changed_at,
    }
    return await _upsert_newer(
        session, catalogue_services, ["service_id"], values, update=["revision", "status", "changed_at"]
    )


async def save_version(session: AsyncConnection, values: Row) -> bool:
    """Store one version's definition unless it was stored from a revision as high. True when written."""
    return await _upsert_newer(session, catalogue_service_versions, ["service_id", "version"], values)


async def offered_version(session: AsyncConnection, service_id: str, version: int | None) -> OfferedVersion | None:
    """A stored version of a service with the service's current state; its current version
    when ``version`` is None."""
    s, v = catalogue_services.c, catalogue_service_versions.c
    number = s.current_version if version is None else version
    query = (
        select(
            s.status,
            s.current_version,
            v.service_id,
            v.version,
            v.online_level,
            v.procedure,
            v.agency,
            v.form_schema,
            v.fees,
            v.documents,
            v.processing_days,
            v.routing_target,
            v.published_at,
            v.revision,
            v.required_acr,
        )
        .select_from(catalogue_services.join(catalogue_service_versions, v.service_id == s.service_id))
        .where(s.service_id == service_id, v.version == number)
    )
    row = (await session.execute(query)).first()
    return _offered(row) if row is not None else None


def _offered(row: Any) -> OfferedVersion:
    """A stored version (its procedure, agency, fees and documents as the event's JSON) as the value."""
    procedure, agency = row.procedure, row.agency
    return OfferedVersion(
        service_id=row.service_id, version=row.version, service_status=ServiceStatus(row.status),
        current_version=row.current_version, online_level=row.online_level, procedure_code=str(procedure["code"]),
        procedure_name=procedure.get("name"), results=tuple(procedure.get("results") or ()),
        agency_code=str(agency["code"]), agency_name=agency.get("name"), form_schema=row.form_schema,
        fees=tuple(OfferedFee(code=f["code"], name=f["name"], amount=int(f["amount"]), condition=f.get("condition"))
                   for f in row.fees),
        documents=tuple(RequiredDocument(code=d["code"], name=d["name"], required=d.get("required", True))
                        for d in row.documents),
        processing_days=row.processing_days, routing_target=row.routing_target, published_at=row.published_at,
        revision=row.revision, required_acr=row.required_acr,
    )  # fmt: skip


async def service_state(session: AsyncConnection, service_id: str) -> ServiceState | None:
    query = select(
        catalogue_services.c.revision, catalogue_services.c.status, catalogue_services.c.current_version
    ).where(catalogue_services.c.service_id == service_id)
    row = (await session.execute(query)).first()
    return ServiceState(row.revision, ServiceStatus(row.status), row.current_version) if row else None


# --- procedures -----------------------------------------------------------------------------


async def lock_procedure(session: AsyncConnection, code: str) -> ProcedureState | None:
    query = (
        select(catalogue_procedures.c.revision, catalogue_procedures.c.status)
        .where(catalogue_procedures.c.code == code)
        .with_for_update()
    )
    row = (await session.execute(query)).first()
    return ProcedureState(row.revision, ProcedureStatus(row.status)) if row else None


async def save_procedure(
    session: AsyncConnection,
    code: str,
    state: ProcedureState,
    changed_at: datetime,
    definition: ProcedureDefinition | None = None,
) -> bool:
    """Write the procedure's state unless a revision as high is stored; ``definition`` (None
    for a retirement) replaces the stored one only when given. True when written."""
    values: Row = {"code": code, "revision": state.revision, "status": state.status.value}
    values["changed_at"] = changed_at
    update = ["revision", "status", "changed_at"]
    if definition is not None:
        values |= {"name": definition.name, "definition": definition.model_dump(mode="json")}
        update += ["name", "definition"]
    return await _upsert_newer(session, catalogue_procedures, ["code"], values, update=update)


async def procedure(session: AsyncConnection, code: str) -> KnownProcedure | None:
    p = catalogue_procedures.c
    query = select(p.code, p.revision, p.status, p.name, p.definition, p.changed_at).where(p.code == code)
    row = (await session.execute(query)).first()
    if row is None:
        return None
    definition = ProcedureDefinition.model_validate(row.definition) if row.definition is not None else None
    return KnownProcedure(code=row.code, revision=row.revision, status=ProcedureStatus(row.status), name=row.name,
                          definition=definition, changed_at=row.changed_at)  # fmt: skip


# --- shared ---------------------------------------------------------------------------------


async def _upsert_newer(
    session: AsyncConnection, table: Any, keys: list[str], values: Row, update: list[str] | None = None
) -> bool:
    """Insert ``values``, or update the stored row (``update`` columns, default all but the keys)
    only where its revision is lower than ``values["revision"]``."""
    statement = insert(table).values(**values)
    columns = update if update is not None else [c for c in values if c not in keys]
    changes: dict[str, object] = {c: statement.excluded[c] for c in columns}
    if "updated_at" in table.c:
        changes["updated_at"] = func.now()
    if "stored_at" in table.c:
        changes["stored_at"] = func.now()
    upsert = statement.on_conflict_do_update(
        index_elements=keys, set_=changes, where=table.c.revision < statement.excluded.revision
    ).returning(table.c.revision)
    return (await session.execute(upsert)).first() is not None


# --- changes, told to the API processes -----------------------------------------------------


async def announce_service_changed(session: AsyncConnection, service_id: str) -> None:
    """Tell every listener that ``service_id`` changed; PostgreSQL delivers it when (and only if)
    the transaction commits."""
    await session.execute(text("SELECT pg_notify(:channel, :service_id)"),
                          {"channel": SERVICE_CHANGED_CHANNEL, "service_id": service_id})  # fmt: skip


async def follow_service_changes(
    dsn: str, changed: Callable[[str | None], None], *, check_seconds: float = 10.0, retry_seconds: float = 2.0
) -> None:
    """Call ``changed(service_id)`` for each announced change until cancelled, on a connection of
    its own. ``changed(None)`` means "anything may have changed": said whenever listening
    (re)starts, since what was announced while not listening is lost. The connection is checked
    every ``check_seconds`` (a half-open one would wait for ever)."""
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=5, command_timeout=5)
        except Exception as exc:  # whatever it is, listening is retried (a cancel stops it)
            log.warning("cannot listen for catalogue changes; retrying", error=str(exc))
            await asyncio.sleep(retry_seconds)
            continue
        try:
            await conn.add_listener(SERVICE_CHANGED_CHANNEL, lambda *args: changed(str(args[3])))
            changed(None)
            while True:
                await asyncio.sleep(check_seconds)
                await conn.fetchval("SELECT 1")
        except Exception as exc:  # a lost or broken connection: listen again
            log.warning("lost the catalogue changes' connection; listening again", error=str(exc))
        finally:
            conn.terminate()
        await asyncio.sleep(retry_seconds)


class SqlOfferedServices:
    """The online services of this read model, for intake (``service.unit_of_work.OfferedServices``)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def version(self, service_id: str, version: int | None) -> OfferedVersion | None:
        return await offered_version(self._connection, service_id, version)

    async def state(self, service_id: str) -> ServiceState | None:
        return await service_state(self._connection, service_id)


class SqlCatalogueView:
    """The catalogue's read model, as its events leave it (``service.unit_of_work.CatalogueView``):
    the events' contract models become rows here."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def lock_service(self, service_id: str) -> ServiceState | None:
        return await lock_service(self._connection, service_id)

    async def lock_version_revision(self, service_id: str, version: int) -> int | None:
        return await lock_version_revision(self._connection, service_id, version)

    async def save_published_service(self, state: ServiceState, event: OnlineServicePublished) -> bool:
        current: Row = {
            "procedure_code": event.procedure.code,
            "agency_code": event.agency.code,
            "province_code": event.agency.province_code,
            "online_level": event.online_level,
            "routing_target": event.routing_target,
        }
        return await save_published_service(self._connection, event.service_id, state, current, event.published_at)

    async def save_version(self, event: OnlineServicePublished) -> bool:
        procedure = event.procedure.model_dump(mode="json")
        values: Row = {
            "service_id": event.service_id,
            "version": event.version,
            "revision": event.revision,
            "procedure_code": event.procedure.code,
            "agency_code": event.agency.code,
            "online_level": event.online_level,
            "procedure": procedure,
            "agency": event.agency.model_dump(mode="json"),
            "form_schema": event.form_schema,
            "fees": [fee.model_dump(mode="json") for fee in event.fees],
            "documents": procedure["documents"],
            "processing_days": event.processing_days,
            "routing_target": event.routing_target,
            "published_at": event.published_at,
            "required_acr": event.required_acr,
        }
        return await save_version(self._connection, values)

    async def save_retired_service(self, service_id: str, state: ServiceState, changed_at: datetime) -> bool:
        return await save_retired_service(self._connection, service_id, state, changed_at)

    async def announce_service_changed(self, service_id: str) -> None:
        await announce_service_changed(self._connection, service_id)

    async def lock_procedure(self, code: str) -> ProcedureState | None:
        return await lock_procedure(self._connection, code)

    async def save_procedure(
        self, code: str, state: ProcedureState, changed_at: datetime, definition: ProcedureDefinition | None = None
    ) -> bool:
        return await save_procedure(self._connection, code, state, changed_at, definition)

    async def procedure(self, code: str) -> KnownProcedure | None:
        return await procedure(self._connection, code)
