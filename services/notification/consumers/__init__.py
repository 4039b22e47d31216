"""Event type -> use case, for the events that tell a person something: the dossier service's,
the payment service's and the feedback service's (``service/triggers.py`` says which notify whom),
the dossier and feedback ones also moving the deadlines of the officials' digest
(``service/deadlines.py``); and identity's deletion of an account, after which nothing of the
person stays here."""

from __future__ import annotations

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
from contracts.events.identity_accounts import AccountDeleted
from contracts.events.payment import PaymentExpiring, PaymentFailed, PaymentSucceeded
from services.kit.clock import Clock
from services.kit.consumer import BatchHandler, Handler, event_data
from services.kit.db import UnitOfWork

from ..domain.messages import QuietHours
from ..service import deadlines, people, triggers
from ..service.runtime import dispatcher_of
from ..service.triggers import Told
from ..service.unit_of_work import notification_unit
from ..settings import NotificationSettings

TOLD: dict[str, type[Told]] = {
    DossierSubmitted.TYPE: DossierSubmitted, StatusChanged.TYPE: StatusChanged,
    PaymentSucceeded.TYPE: PaymentSucceeded, PaymentFailed.TYPE: PaymentFailed, PaymentExpiring.TYPE: PaymentExpiring,
    FeedbackAnswered.TYPE: FeedbackAnswered, FeedbackInformationRequested.TYPE: FeedbackInformationRequested,
    FeedbackReceived.TYPE: FeedbackReceived, FeedbackClassified.TYPE: FeedbackClassified,
    FeedbackTransferred.TYPE: FeedbackTransferred, FeedbackWithdrawn.TYPE: FeedbackWithdrawn,
}  # fmt: skip


def handlers(settings: NotificationSettings) -> dict[str, Handler]:
    """Account deletions, one at a time (rare); the events that notify go in runs (``batch_handlers``)."""

    async def account_deleted(unit: UnitOfWork, event: CloudEvent) -> None:
        deleted = event_data(AccountDeleted, event.data)
        await people.forget(notification_unit(unit), deleted.account_id)
        dispatcher_of(settings).contacts.forget(deleted.account_id)  # this process's copy of the contact

    return {AccountDeleted.TYPE: account_deleted}


def batch_handlers(settings: NotificationSettings) -> dict[str, BatchHandler]:
    """Every event that may notify someone, a run of them (of any of these types, in order) in one
    transaction: at national scale the dossier service alone publishes thousands a second."""
    clock = Clock(settings.dev_clock_offset_file)
    quiet = QuietHours(settings.quiet_start, settings.quiet_end)

    async def apply(unit: UnitOfWork, events: list[CloudEvent]) -> None:
        told = [(event, event_data(TOLD[event.type], event.data)) for event in events]
        uow = notification_unit(unit)
        await deadlines.track(uow, told)
        await triggers.apply(uow, told, clock.now(), quiet, settings.portal_url)

    return dict.fromkeys(TOLD, apply)
