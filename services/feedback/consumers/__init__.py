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
from services.kit.consumer import BatchHandler, Handler, event_data
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


async def on_dossiers_submitted(unit: UnitOfWork, events: list[CloudEvent]) -> None:
    """Dossiers filed, a batch at once: the portal files thousands an hour."""
    filed = [event_data(DossierSubmitted, event.data) for event in events]
    await read_models.dossiers_submitted(feedback_unit(unit), filed)


HANDLERS: dict[str, Handler] = {
    ProcedurePublished.TYPE: on_procedure_published,
    ProcedureRetired.TYPE: on_procedure_retired,
    OnlineServicePublished.TYPE: on_online_service_published,
    OnlineServiceRetired.TYPE: on_online_service_retired,
    DossierSubmitted.TYPE: on_dossier_submitted,
}

BATCH_HANDLERS: dict[str, BatchHandler] = {DossierSubmitted.TYPE: on_dossiers_submitted}
