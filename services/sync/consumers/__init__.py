"""Event type -> use case, for the events the sync service consumes (``dossier.events``): what
to deliver to the agencies (a filing, a supplement, a withdrawal), and what the portal tells of
its dossiers (filed, status changed), so that a pushed record is answered as the dossier
service will judge it."""

from contracts.envelope import CloudEvent
from contracts.events.dossier import DossierSubmitted, DossierSupplemented, StatusChanged, WithdrawalRequested
from services.kit.consumer import Handler, event_data
from services.kit.db import UnitOfWork

from ..service import inbound, outbound
from ..service.unit_of_work import sync_unit


async def on_dossier_submitted(unit: UnitOfWork, event: CloudEvent) -> None:
    uow = sync_unit(unit)
    await outbound.record_submission(uow, event.data)
    filed = event_data(DossierSubmitted, event.data)
    await inbound.dossier_filed(uow, filed.code, filed.agency_code, filed.applicant.identifier, filed.received_at)


async def on_dossier_supplemented(unit: UnitOfWork, event: CloudEvent) -> None:
    await outbound.record_supplement(sync_unit(unit), event.data)


async def on_withdrawal_requested(unit: UnitOfWork, event: CloudEvent) -> None:
    await outbound.record_withdrawal(sync_unit(unit), event.data)


async def on_status_changed(unit: UnitOfWork, event: CloudEvent) -> None:
    changed = event_data(StatusChanged, event.data)
    await inbound.dossier_changed(sync_unit(unit), changed.code, changed.agency_code, changed.status,
                                  changed.occurred_at, changed.source, first=changed.previous is None)  # fmt: skip


HANDLERS: dict[str, Handler] = {
    DossierSubmitted.TYPE: on_dossier_submitted,
    DossierSupplemented.TYPE: on_dossier_supplemented,
    WithdrawalRequested.TYPE: on_withdrawal_requested,
    StatusChanged.TYPE: on_status_changed,
}
