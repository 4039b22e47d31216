"""The officials' digest: the deadlines kept from the dossier and feedback services' events
(``track``, in the consumer's run), and each day's notices to each agency's officials (``digest``).

Every dossier counts, a counter filing too (its agency's officials handle it, whoever filed it):
a filing, or the first status change heard of a dossier mirrored from a province, is enough.
The rules of the deadlines are in ``domain/deadlines.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from contracts.envelope import CloudEvent
from contracts.events.dossier import DossierSubmitted, StatusChanged
from contracts.events.feedback import (
    FeedbackAnswered,
    FeedbackClassified,
    FeedbackReceived,
    FeedbackTransferred,
    FeedbackWithdrawn,
)

from ..domain.deadlines import (
    DIGEST_CODES,
    AgencyDue,
    DigestWindow,
    DossierDeadline,
    FeedbackDeadline,
    digest_event_id,
    fold,
)
from ..domain.messages import QuietHours
from ..domain.notices import Kind
from .intake import Made, Trigger, notify_many
from .unit_of_work import NotificationUnitOfWork


def _feedback(told: object) -> FeedbackDeadline | None:
    """What a feedback event says of its item's deadline (received, classified, transferred,
    answered, withdrawn); None for the others."""
    if isinstance(told, FeedbackReceived):
        return FeedbackDeadline(told.feedback_id, told.agency_code, told.code, told.classify_due, told.answer_due,
                                told.received_at)  # fmt: skip
    if isinstance(told, FeedbackTransferred):
        # The new agency classifies it again; the event carries its answer date only.
        return FeedbackDeadline(told.feedback_id, told.to_agency, told.code, None, told.answer_due, told.transferred_at)
    if isinstance(told, FeedbackClassified):
        return FeedbackDeadline(told.feedback_id, told.agency_code, told.code, None, None, None,
                                classified_at=told.classified_at,
                                closed=told.category == "not_accepted")  # fmt: skip
    if isinstance(told, FeedbackAnswered | FeedbackWithdrawn):
        return FeedbackDeadline(told.feedback_id, told.agency_code, told.code, None, None, None, closed=True)
    return None


async def track(uow: NotificationUnitOfWork, events: Sequence[tuple[CloudEvent, object]]) -> None:
    """Fold a run's dossier and feedback facts into the deadlines, two statements at most."""
    dossier_facts: list[tuple[str, DossierDeadline]] = []
    feedback_facts: list[tuple[str, FeedbackDeadline]] = []
    for _, told in events:
        if isinstance(told, DossierSubmitted):
            fact = DossierDeadline.fact(told.dossier_id, told.agency_code, told.code, told.appointment_date, 1,
                                        told.received_at)  # fmt: skip
            dossier_facts.append((told.dossier_id, fact))
        elif isinstance(told, StatusChanged):
            fact = DossierDeadline.fact(told.dossier_id, told.agency_code, told.code, told.appointment_date,
                                        told.status, told.occurred_at)  # fmt: skip
            dossier_facts.append((told.dossier_id, fact))
        elif (feedback := _feedback(told)) is not None:
            feedback_facts.append((feedback.feedback_id, feedback))
    await uow.deadlines.save_dossiers(list(fold(dossier_facts).values()))
    await uow.deadlines.save_feedback(list(fold(feedback_facts).values()))


def digest_triggers(due: AgencyDue, window: DigestWindow, officials: list[str], link: str) -> list[Trigger]:
    values = {"agency": due.agency_code, "dossiers_past": due.dossiers_past, "dossiers_near": due.dossiers_near,
              "feedback_past": due.feedback_past, "feedback_near": due.feedback_near, "codes": list(due.codes),
              "days": window.days, "link": link}  # fmt: skip
    event_id = digest_event_id(due.agency_code, window.today)
    return [Trigger(event_id, account, Kind.OFFICIAL_DIGEST, values, link) for account in officials]


async def due_today(uow: NotificationUnitOfWork, window: DigestWindow) -> list[AgencyDue]:
    """The agencies with something to report: open dossiers or feedback past or near their deadline."""
    return [d for d in await uow.deadlines.due(window, DIGEST_CODES) if d.anything]


async def notify(uow: NotificationUnitOfWork, due: list[AgencyDue], window: DigestWindow,
                 acting: dict[str, list[str]], now: datetime, quiet: QuietHours, link: str) -> list[Made]:  # fmt: skip
    """One digest notice per official per agency (``acting``: agency code -> officials' ids);
    those this day's digest already made are made again by no one (the notices' unique key)."""
    triggers = [t for d in due for t in digest_triggers(d, window, acting.get(d.agency_code, []), link)]
    return await notify_many(uow, triggers, now, quiet)
