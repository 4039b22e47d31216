"""Which events notify whom, with what: the dossier service's (filed, statuses 4, 5, 9 and 10,
a new appointment date), the payment service's (paid, failed or expired, about to expire) and
the feedback service's. Each notifies the
person the event concerns, once (``intake.notify``); an event about no one this service knows (a
dossier filed at a province's counter, feedback an official recorded) notifies no one."""

from __future__ import annotations

from datetime import datetime

from contracts.envelope import CloudEvent
from contracts.events.dossier import DossierSubmitted, StatusChanged
from contracts.events.feedback import FeedbackAnswered, FeedbackInformationRequested
from contracts.events.payment import PaymentExpiring, PaymentFailed, PaymentSucceeded

from ..domain.messages import QuietHours
from ..domain.notices import Kind
from .intake import Made, Trigger, notify
from .unit_of_work import NotificationUnitOfWork, OwnedDossier

#: The national statuses that notify the owner, and as what.
STATUS_KINDS = {4: Kind.DOSSIER_IN_PROCESSING, 5: Kind.SUPPLEMENT_REQUESTED, 9: Kind.DOSSIER_PROCESSED,
                10: Kind.RESULT_RETURNED}  # fmt: skip


def _dossier_link(portal_url: str, dossier_id: str) -> str:
    return f"{portal_url}/dossiers/{dossier_id}"


async def dossier_submitted(uow: NotificationUnitOfWork, event: CloudEvent, filed: DossierSubmitted, now: datetime,
                            quiet: QuietHours, portal_url: str) -> Made | None:  # fmt: skip
    """The receipt, to the account that filed it (remembered as the dossier's owner)."""
    if filed.owner is None:
        return None
    await uow.dossiers.save(OwnedDossier(filed.dossier_id, filed.code, filed.owner, filed.agency_code,
                                         filed.procedure_name, filed.appointment_date))  # fmt: skip
    link = _dossier_link(portal_url, filed.dossier_id)
    values = {"code": filed.code, "procedure": filed.procedure_name, "link": link,
              "appointment": filed.appointment_date.isoformat()}  # fmt: skip
    return await notify(uow, Trigger(event.id, filed.owner, Kind.DOSSIER_RECEIVED, values, link), now, quiet)


async def status_changed(uow: NotificationUnitOfWork, event: CloudEvent, change: StatusChanged, now: datetime,
                         quiet: QuietHours, portal_url: str) -> list[Made]:  # fmt: skip
    """Statuses 4, 5, 9 and 10 tell the owner; so does a new appointment date."""
    dossier = await uow.dossiers.get(change.dossier_id)
    if dossier is None:
        return []
    link = _dossier_link(portal_url, dossier.dossier_id)
    values = {"code": dossier.code, "procedure": dossier.procedure_name, "link": link}
    made: list[Made | None] = []
    kind = STATUS_KINDS.get(change.status) if change.previous != change.status else None
    if kind is not None:
        made.append(await notify(uow, Trigger(event.id, dossier.owner, kind, values, link), now, quiet))
    moved = change.appointment_date
    if moved is not None and dossier.appointment_date is not None and moved != dossier.appointment_date:
        await uow.dossiers.moved(dossier.dossier_id, moved)
        dated = {**values, "appointment": moved.isoformat()}
        made.append(await notify(uow, Trigger(event.id, dossier.owner, Kind.APPOINTMENT_CHANGED, dated, link), now,
                                 quiet))  # fmt: skip
    return [m for m in made if m is not None]


PAYMENT_KINDS = {PaymentSucceeded: Kind.PAYMENT_SUCCEEDED, PaymentFailed: Kind.PAYMENT_FAILED,
                 PaymentExpiring: Kind.PAYMENT_EXPIRING}  # fmt: skip


async def payment_event(uow: NotificationUnitOfWork, event: CloudEvent,
                        told: PaymentSucceeded | PaymentFailed | PaymentExpiring, now: datetime, quiet: QuietHours,
                        portal_url: str) -> Made | None:  # fmt: skip
    """A payment that succeeded, failed or is about to expire, to the account that may pay (the
    event names it; a success published before it did is matched to the dossier's owner)."""
    owner = told.owner
    if owner is None:
        dossier = await uow.dossiers.get(told.dossier_id)
        owner = dossier.owner if dossier is not None else None
    if owner is None:
        return None
    link = _dossier_link(portal_url, told.dossier_id)
    values = {"code": told.dossier_code, "amount": f"{told.amount:,} VND".replace(",", "."), "link": link}
    return await notify(uow, Trigger(event.id, owner, PAYMENT_KINDS[type(told)], values, link), now, quiet)


async def feedback_event(uow: NotificationUnitOfWork, event: CloudEvent,
                         told: FeedbackAnswered | FeedbackInformationRequested, now: datetime, quiet: QuietHours,
                         portal_url: str) -> Made | None:  # fmt: skip
    """An answer, or a request for information, to the person who sent the feedback."""
    if not told.sender:
        return None  # recorded by an official from a letter or a call: no account to tell
    kind = Kind.FEEDBACK_ANSWERED if isinstance(told, FeedbackAnswered) else Kind.FEEDBACK_INFORMATION_REQUESTED
    link = f"{portal_url}/feedback/{told.feedback_id}"
    return await notify(uow, Trigger(event.id, told.sender, kind, {"code": told.code, "link": link}, link), now,
                        quiet)  # fmt: skip
