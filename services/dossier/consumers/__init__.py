"""Event type -> use case, for the events the dossier service consumes."""

from contracts.envelope import CloudEvent
from services.kit.consumer import Handler
from services.kit.db import UnitOfWork

from ..service import catalogue_view


async def on_procedure_published(uow: UnitOfWork, event: CloudEvent) -> None:
    await catalogue_view.apply_procedure_published(uow, event.data)


async def on_procedure_retired(uow: UnitOfWork, event: CloudEvent) -> None:
    await catalogue_view.apply_procedure_retired(uow, event.data)


async def on_service_published(uow: UnitOfWork, event: CloudEvent) -> None:
    await catalogue_view.apply_service_published(uow, event.data)


async def on_service_retired(uow: UnitOfWork, event: CloudEvent) -> None:
    await catalogue_view.apply_service_retired(uow, event.data)


HANDLERS: dict[str, Handler] = {
    catalogue_view.PROCEDURE_PUBLISHED: on_procedure_published,
    catalogue_view.PROCEDURE_RETIRED: on_procedure_retired,
    catalogue_view.SERVICE_PUBLISHED: on_service_published,
    catalogue_view.SERVICE_RETIRED: on_service_retired,
}
