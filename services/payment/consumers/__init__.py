"""Event type -> use case, for the events the payment service consumes."""

from contracts.envelope import CloudEvent
from contracts.events.dossier import FeesAssessed
from services.kit.consumer import Handler, event_data
from services.kit.db import UnitOfWork

from ..service import orders
from ..service.unit_of_work import payment_unit


async def on_fees_assessed(uow: UnitOfWork, event: CloudEvent) -> None:
    await orders.apply_fees_assessed(payment_unit(uow), event_data(FeesAssessed, event.data))


HANDLERS: dict[str, Handler] = {FeesAssessed.TYPE: on_fees_assessed}
