"""Event type -> use case, for the events the sync service consumes (``dossier.events``): what
to deliver to the agencies (a filing, a supplement, a withdrawal), and what the portal tells of
its dossiers (filed, status changed), so that a pushed record is answered as the dossier
service will judge it."""

from contracts.envelope import CloudEvent
from contracts.events.dossier import DossierSubmitted, StatusChanged
from services.kit.consumer import Handler, event_data
from services.kit.db import UnitOfWork

from ..service import inbound, outbound

STATUS_CHANGED = StatusChanged.TYPE


async def on_dossier_submitted(uow: UnitOfWork, event: CloudEvent) -> None:
    await outbound.record_submission(uow, event.data)
    filed = event_data(DossierSubmitted, event.data)
    await inbound.dossier_filed(uow, filed.code, filed.agency_code, filed.applicant.identifier, filed.received_at)


async def on_dossier_supplemented(uow: UnitOfWork, event: CloudEvent) -> None:
    await outbound.record_supplement(uow, event.data)


async def on_withdrawal_requested(uow: UnitOfWork, event: CloudEvent) -> None:
    await outbound.record_withdrawal(uow, event.data)


async def on_status_changed(uow: UnitOfWork, event: CloudEvent) -> None:
    changed = event_data(StatusChanged, event.data)
    await inbound.dossier_changed(uow, changed.code, changed.agency_code, changed.status, changed.occurred_at,
                                  changed.source, first=changed.previous is None)  # fmt: skip


HANDLERS: dict[str, Handler] = {
    outbound.SUBMITTED: on_dossier_submitted,
    outbound.SUPPLEMENTED: on_dossier_supplemented,
    outbound.WITHDRAWAL_REQUESTED: on_withdrawal_requested,
    STATUS_CHANGED: on_status_changed,
}
