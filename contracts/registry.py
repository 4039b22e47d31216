"""Every event type the platform publishes, with its data model."""

from __future__ import annotations

from pydantic import BaseModel

from contracts.envelope import CloudEvent
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
from contracts.events.identity_accounts import AccountLocked, AccountRegistered, AccountUnlocked, AccountVerified
from contracts.events.identity_oidc import ClientCreated, ClientDisabled, SigningKeyRotated
from contracts.events.payment import PaymentSucceeded
from contracts.events.platform import DeadLetterRecorded
from contracts.events.sync import DossierStatusesReported, DossierStatusReported

EVENT_TYPES: dict[str, type[BaseModel]] = {
    "kit.deadletter.recorded.v1": DeadLetterRecorded,
    "identity.account.registered.v1": AccountRegistered,
    "identity.account.verified.v1": AccountVerified,
    "identity.account.locked.v1": AccountLocked,
    "identity.account.unlocked.v1": AccountUnlocked,
    "identity.client.created.v1": ClientCreated,
    "identity.client.disabled.v1": ClientDisabled,
    "identity.signingkey.rotated.v1": SigningKeyRotated,
    "catalogue.procedure.published.v1": ProcedurePublished,
    "catalogue.procedure.retired.v1": ProcedureRetired,
    "catalogue.online_service.published.v1": OnlineServicePublished,
    "catalogue.online_service.retired.v1": OnlineServiceRetired,
    "dossier.dossier.submitted.v1": DossierSubmitted,
    "dossier.fees.assessed.v1": FeesAssessed,
    "dossier.dossier.status_changed.v1": StatusChanged,
    "dossier.dossier.rated.v1": DossierRated,
    "dossier.dossier.supplemented.v1": DossierSupplemented,
    "dossier.dossier.withdrawal_requested.v1": WithdrawalRequested,
    "sync.dossier.statuses_reported.v1": DossierStatusesReported,
    # No longer published (sync sends records by the batch); still consumed by the dossier service.
    "sync.dossier.status_reported.v1": DossierStatusReported,
    "payment.order.succeeded.v1": PaymentSucceeded,
}

#: Models exported besides the event types (file name -> model).
ENVELOPES: dict[str, type[BaseModel]] = {"cloudevent": CloudEvent}
