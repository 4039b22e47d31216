"""Event type -> use case, for the events the feedback service consumes: the catalogue's
procedures and online services (which agency offers what) and the dossiers filed (whose they are
and which agency handles them), kept as this service's own read models for routing."""

from contracts.envelope import CloudEvent
from contracts.events.catalogue import (
    OnlineServicePublished,
    OnlineServiceRetired,
    ProcedurePublished,
    ProcedureRetired,
)
from contracts.events.dossier import DossierSubmitted
from services.kit.consumer import Handler, event_data
from services.kit.db import UnitOfWork

from ..service import read_models
from ..service.unit_of_work import feedback_unit


async def on_procedure_published(unit: UnitOfWork, event: CloudEvent) -> None:
    await read_models.procedure_published(feedback_unit(unit), event_data(ProcedurePublished, event.data))


async def on_procedure_retired(unit: UnitOfWork, event: CloudEvent) -> None:
    await read_models.procedure_retired(feedback_unit(unit), event_data(ProcedureRetired, event.data))


async def on_online_service_published(unit: UnitOfWork, event: CloudEvent) -> None:
    await read_models.online_service_published(feedback_unit(unit), event_data(OnlineServicePublished, event.data))


async def on_online_service_retired(unit: UnitOfWork, event: CloudEvent) -> None:
    await read_models.online_service_retired(feedback_unit(unit), event_data(OnlineServiceRetired, event.data))


async def on_dossier_submitted(unit: UnitOfWork, event: CloudEvent) -> None:
    await read_models.dossier_submitted(feedback_unit(unit), event_data(DossierSubmitted, event.data))


HANDLERS: dict[str, Handler] = {
    ProcedurePublished.TYPE: on_procedure_published,
    ProcedureRetired.TYPE: on_procedure_retired,
    OnlineServicePublished.TYPE: on_online_service_published,
    OnlineServiceRetired.TYPE: on_online_service_retired,
    DossierSubmitted.TYPE: on_dossier_submitted,
}
