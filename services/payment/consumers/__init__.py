"""Event type -> use case, for the events the payment service consumes."""

from contracts.envelope import CloudEvent
from services.kit.consumer import Handler
from services.kit.db import UnitOfWork

from ..service import orders


async def on_fees_assessed(uow: UnitOfWork, event: CloudEvent) -> None:
    await orders.apply_fees_assessed(uow, event.data)


HANDLERS: dict[str, Handler] = {orders.FEES_ASSESSED: on_fees_assessed}
