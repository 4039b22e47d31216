"""Every event type the platform publishes, with its data model."""

from __future__ import annotations

from pydantic import BaseModel

from contracts.envelope import CloudEvent
from contracts.events.base import Event
from contracts.events.catalogue import (
    OnlineServicePublished,
    OnlineServiceRetired,
    ProcedurePublished,
    ProcedureRetired,
)
from contracts.events.dossier import (
    DossierRated,
    DossierSubmitted,
    DossierSupplemented,
    FeesAssessed,
    StatusChanged,
    WithdrawalRequested,
)
from contracts.events.feedback import (
    FeedbackAnswered,
    FeedbackClassified,
    FeedbackInformationRequested,
    FeedbackOverdue,
    FeedbackPublished,
    FeedbackReceived,
    FeedbackTransferred,
    FeedbackWithdrawn,
)
from contracts.events.identity_accounts import (
    AccountDeleted,
    AccountLocked,
    AccountRegistered,
    AccountUnlocked,
    AccountVerified,
)
from contracts.events.identity_mandates import MandateGranted, MandateRevoked
from contracts.events.identity_oidc import ClientCreated, ClientDisabled, SigningKeyRotated
from contracts.events.payment import PaymentExpiring, PaymentFailed, PaymentSucceeded
from contracts.events.platform import DeadLetterRecorded
from contracts.events.sync import DossierStatusesReported, DossierStatusReported

#: Every model, once; its type string is on the model (``Model.TYPE``).
EVENT_MODELS: tuple[type[Event], ...] = (
    DeadLetterRecorded,
    AccountRegistered,
    AccountVerified,
    AccountLocked,
    AccountUnlocked,
    AccountDeleted,
    MandateGranted,
    MandateRevoked,
    ClientCreated,
    ClientDisabled,
    SigningKeyRotated,
    ProcedurePublished,
    ProcedureRetired,
    OnlineServicePublished,
    OnlineServiceRetired,
    DossierSubmitted,
    FeesAssessed,
    StatusChanged,
    DossierRated,
    DossierSupplemented,
    WithdrawalRequested,
    DossierStatusesReported,
    DossierStatusReported,
    PaymentSucceeded,
    PaymentFailed,
    PaymentExpiring,
    FeedbackReceived,
    FeedbackClassified,
    FeedbackTransferred,
    FeedbackInformationRequested,
    FeedbackAnswered,
    FeedbackPublished,
    FeedbackOverdue,
    FeedbackWithdrawn,
)
# DossierStatusReported is no longer published (sync sends records by the batch); the dossier
# service still consumes it.

EVENT_TYPES: dict[str, type[Event]] = {model.TYPE: model for model in EVENT_MODELS}

#: Models exported besides the event types (file name -> model).
ENVELOPES: dict[str, type[BaseModel]] = {"cloudevent": CloudEvent}
