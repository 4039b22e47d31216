"""Which events notify whom, with what: the dossier service's (filed, statuses 4, 5, 9 and 10,
a new appointment date), the payment service's (paid, failed or expired, about to expire) and
the feedback service's. Each notifies the person the event concerns, once (``intake``); an event
about no one this service knows (a dossier filed at a province's counter, feedback an official
recorded) notifies no one.

The events come in runs from the consumer (``apply``): a run's dossiers are read at once, the
filings among them remembered in order (a status change later in the same run finds its
dossier), and the notices made together."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from contracts.envelope import CloudEvent
from contracts.events.dossier import DossierSubmitted, StatusChanged
from contracts.events.feedback import (
    FeedbackAnswered,
    FeedbackClassified,
    FeedbackInformationRequested,
    FeedbackReceived,
    FeedbackTransferred,
    FeedbackWithdrawn,
)
from contracts.events.payment import PaymentExpiring, PaymentFailed, PaymentSucceeded

from ..domain.messages import QuietHours
from ..domain.notices import Kind
from .intake import Made, Trigger, notify_many
from .unit_of_work import NotificationUnitOfWork, OwnedDossier

#: The national statuses that notify the owner, and as what.
STATUS_KINDS = {4: Kind.DOSSIER_IN_PROCESSING, 5: Kind.SUPPLEMENT_REQUESTED, 9: Kind.DOSSIER_PROCESSED,
                10: Kind.RESULT_RETURNED}  # fmt: skip
PAYMENT_KINDS = {PaymentSucceeded: Kind.PAYMENT_SUCCEEDED, PaymentFailed: Kind.PAYMENT_FAILED,
                 PaymentExpiring: Kind.PAYMENT_EXPIRING}  # fmt: skip

# The feedback service's received, classified, transferred and withdrawn notify no one: they only
# move the deadlines of the officials' digest (``deadlines.track``).
Told = (DossierSubmitted | StatusChanged | PaymentSucceeded | PaymentFailed | PaymentExpiring | FeedbackAnswered
        | FeedbackInformationRequested | FeedbackReceived | FeedbackClassified | FeedbackTransferred
        | FeedbackWithdrawn)  # fmt: skip


def _dossier_link(portal_url: str, dossier_id: str) -> str:
    return f"{portal_url}/dossiers/{dossier_id}"


def _amount(vnd: int) -> str:
    return f"{vnd:,} VND".replace(",", ".")


async def apply(uow: NotificationUnitOfWork, events: list[tuple[CloudEvent, Told]], now: datetime,
                quiet: QuietHours, portal_url: str) -> list[Made]:  # fmt: skip
    """The notices a run of events makes, in their order."""
    wanted = sorted({t.dossier_id for _, t in events if isinstance(t, StatusChanged | PaymentSucceeded)
                     and not isinstance(t, DossierSubmitted)})  # fmt: skip
    known = await uow.dossiers.get_many(wanted) if wanted else {}
    as_read = dict(known)
    filed: list[OwnedDossier] = []
    triggers: list[Trigger] = []
    for event, told in events:
        if isinstance(told, DossierSubmitted):
            if told.owner is None:
                continue
            dossier = OwnedDossier(told.dossier_id, told.code, told.owner, told.agency_code, told.procedure_name,
                                   told.appointment_date)  # fmt: skip
            known.setdefault(told.dossier_id, dossier)
            filed.append(dossier)
            link = _dossier_link(portal_url, told.dossier_id)
            values = {"code": told.code, "procedure": told.procedure_name, "link": link,
                      "appointment": told.appointment_date.isoformat()}  # fmt: skip
            triggers.append(Trigger(event.id, told.owner, Kind.DOSSIER_RECEIVED, values, link))
        elif isinstance(told, StatusChanged):
            triggers += _status(event, told, known, portal_url)
        elif isinstance(told, PaymentSucceeded | PaymentFailed | PaymentExpiring):
            owner = told.owner if told.owner is not None else getattr(known.get(told.dossier_id), "owner", None)
            if owner is not None:
                link = _dossier_link(portal_url, told.dossier_id)
                values = {"code": told.dossier_code, "amount": _amount(told.amount), "link": link}
                triggers.append(Trigger(event.id, owner, PAYMENT_KINDS[type(told)], values, link))
        elif isinstance(told, FeedbackAnswered | FeedbackInformationRequested) and told.sender:
            # none when an official recorded the feedback from a letter or a call
            kind = Kind.FEEDBACK_ANSWERED if isinstance(told, FeedbackAnswered) else Kind.FEEDBACK_INFORMATION_REQUESTED
            link = f"{portal_url}/feedback/{told.feedback_id}"
            triggers.append(Trigger(event.id, told.sender, kind, {"code": told.code, "link": link}, link))
    await uow.dossiers.save_all(filed)
    first = {**{d.dossier_id: d for d in filed}, **as_read}
    for dossier_id, dossier in known.items():
        if dossier.appointment_date is not None and dossier.appointment_date != first[dossier_id].appointment_date:
            await uow.dossiers.moved(dossier_id, dossier.appointment_date)
    return await notify_many(uow, triggers, now, quiet)


def _status(event: CloudEvent, change: StatusChanged, known: dict[str, OwnedDossier], portal_url: str) -> list[Trigger]:
    """Statuses 4, 5, 9 and 10 tell the owner; so does a new appointment date (remembered)."""
    dossier = known.get(change.dossier_id)
    if dossier is None:
        return []
    link = _dossier_link(portal_url, dossier.dossier_id)
    values = {"code": dossier.code, "procedure": dossier.procedure_name, "link": link}
    made = []
    kind = STATUS_KINDS.get(change.status) if change.previous != change.status else None
    if kind is not None:
        made.append(Trigger(event.id, dossier.owner, kind, values, link))
    new_date = change.appointment_date
    if new_date is not None and dossier.appointment_date is not None and new_date != dossier.appointment_date:
        known[dossier.dossier_id] = replace(dossier, appointment_date=new_date)
        made.append(Trigger(event.id, dossier.owner, Kind.APPOINTMENT_CHANGED,
                            {**values, "appointment": new_date.isoformat()}, link))  # fmt: skip
    return made
