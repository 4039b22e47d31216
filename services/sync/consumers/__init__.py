"""Event type -> use case, for the events the sync service consumes."""

from contracts.envelope import CloudEvent
from services.kit.consumer import Handler
from services.kit.db import UnitOfWork

from ..service import outbound


async def on_dossier_submitted(uow: UnitOfWork, event: CloudEvent) -> None:
    await outbound.record_submission(uow, event.data)


HANDLERS: dict[str, Handler] = {outbound.SUBMITTED: on_dossier_submitted}
