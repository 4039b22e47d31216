"""Event type -> use case, for the events that tell a person something: the dossier service's,
the payment service's and the feedback service's (``service/triggers.py`` says which notify whom);
and identity's deletion of an account, after which nothing of the person stays here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from contracts.envelope import CloudEvent
from contracts.events.dossier import DossierSubmitted, StatusChanged
from contracts.events.feedback import FeedbackAnswered, FeedbackInformationRequested
from contracts.events.identity_accounts import AccountDeleted
from contracts.events.payment import PaymentExpiring, PaymentFailed, PaymentSucceeded
from services.kit.clock import Clock
from services.kit.consumer import Handler, event_data
from services.kit.db import UnitOfWork

from ..domain.messages import QuietHours
from ..service import people, triggers
from ..service.runtime import dispatcher_of
from ..service.unit_of_work import NotificationUnitOfWork, notification_unit
from ..settings import NotificationSettings

Use = Callable[[NotificationUnitOfWork, CloudEvent, Any, datetime, QuietHours, str], Awaitable[object]]


def handlers(settings: NotificationSettings) -> dict[str, Handler]:
    clock = Clock(settings.dev_clock_offset_file)
    quiet = QuietHours(settings.quiet_start, settings.quiet_end)

    def handler(model: type[BaseModel], use: Use) -> Handler:
        async def handle(unit: UnitOfWork, event: CloudEvent) -> None:
            await use(notification_unit(unit), event, event_data(model, event.data), clock.now(), quiet,
                      settings.portal_url)  # fmt: skip

        return handle

    async def account_deleted(unit: UnitOfWork, event: CloudEvent) -> None:
        deleted = event_data(AccountDeleted, event.data)
        await people.forget(notification_unit(unit), deleted.account_id)
        dispatcher_of(settings).contacts.forget(deleted.account_id)  # this process's copy of the contact

    return {
        AccountDeleted.TYPE: account_deleted,
        DossierSubmitted.TYPE: handler(DossierSubmitted, triggers.dossier_submitted),
        StatusChanged.TYPE: handler(StatusChanged, triggers.status_changed),
        PaymentSucceeded.TYPE: handler(PaymentSucceeded, triggers.payment_event),
        PaymentFailed.TYPE: handler(PaymentFailed, triggers.payment_event),
        PaymentExpiring.TYPE: handler(PaymentExpiring, triggers.payment_event),
        FeedbackAnswered.TYPE: handler(FeedbackAnswered, triggers.feedback_event),
        FeedbackInformationRequested.TYPE: handler(FeedbackInformationRequested, triggers.feedback_event),
    }
