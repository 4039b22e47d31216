"""Event type -> use case, for the events the dossier service consumes."""

from typing import cast

from contracts.envelope import CloudEvent
from contracts.events.catalogue import (
    OnlineServicePublished,
    OnlineServiceRetired,
    ProcedurePublished,
    ProcedureRetired,
)
from contracts.events.identity_mandates import MandateGranted, MandateRevoked
from contracts.events.payment import PaymentSucceeded
from contracts.events.sync import DossierStatusesReported, DossierStatusReported
from services.kit.consumer import BatchHandler, Handler
from services.kit.db import UnitOfWork

from ..domain import statistics as statistics_rules
from ..service import catalogue_view, mandates, statistics, tracking
from ..service.unit_of_work import DossierUnitOfWork
from ..settings import DossierSettings


def _dossier_unit(uow: UnitOfWork) -> DossierUnitOfWork:
    """The kit's runner hands the unit the service spec names: the dossier unit of work."""
    return cast(DossierUnitOfWork, uow)


async def on_procedure_published(uow: UnitOfWork, event: CloudEvent) -> None:
    await catalogue_view.apply_procedure_published(_dossier_unit(uow), event.data)


async def on_procedure_retired(uow: UnitOfWork, event: CloudEvent) -> None:
    await catalogue_view.apply_procedure_retired(_dossier_unit(uow), event.data)


async def on_service_published(uow: UnitOfWork, event: CloudEvent) -> None:
    await catalogue_view.apply_service_published(_dossier_unit(uow), event.data)


async def on_service_retired(uow: UnitOfWork, event: CloudEvent) -> None:
    await catalogue_view.apply_service_retired(_dossier_unit(uow), event.data)


async def on_payment_succeeded(uow: UnitOfWork, event: CloudEvent) -> None:
    await tracking.apply_payment(_dossier_unit(uow), event.data)


CATALOGUE_AND_PAYMENT: dict[str, Handler] = {
    ProcedurePublished.TYPE: on_procedure_published,
    ProcedureRetired.TYPE: on_procedure_retired,
    OnlineServicePublished.TYPE: on_service_published,
    OnlineServiceRetired.TYPE: on_service_retired,
    PaymentSucceeded.TYPE: on_payment_succeeded,
}


def handlers(settings: DossierSettings) -> dict[str, Handler]:
    """Every handler; the agencies' status records need the deployment's applicant key (a
    mirrored dossier is found by its applicant's pseudonym)."""
    secret = settings.applicant_key_secret.get_secret_value()

    async def on_status_reported(uow: UnitOfWork, event: CloudEvent) -> None:
        await tracking.apply_status_report(_dossier_unit(uow), event.data, applicant_secret=secret)

    return {**CATALOGUE_AND_PAYMENT, DossierStatusReported.TYPE: on_status_reported}


def batch_handlers(settings: DossierSettings) -> dict[str, BatchHandler]:
    """Agencies push status by the thousand: consecutive records are applied set by set."""
    secret = settings.applicant_key_secret.get_secret_value()

    async def on_status_reports(uow: UnitOfWork, events: list[CloudEvent]) -> None:
        await tracking.apply_status_reports(_dossier_unit(uow), [e.data for e in events], applicant_secret=secret)

    async def on_status_batches(uow: UnitOfWork, events: list[CloudEvent]) -> None:
        await tracking.apply_status_batches(_dossier_unit(uow), [e.data for e in events], applicant_secret=secret)

    return {DossierStatusReported.TYPE: on_status_reports, DossierStatusesReported.TYPE: on_status_batches}


# --- the read model of enterprise mandates (its own consumer group: identity.events) ---------


async def on_mandate_granted(uow: UnitOfWork, event: CloudEvent) -> None:
    await mandates.apply_granted(_dossier_unit(uow), event.data)


async def on_mandate_revoked(uow: UnitOfWork, event: CloudEvent) -> None:
    await mandates.apply_revoked(_dossier_unit(uow), event.data)


MANDATES: dict[str, Handler] = {MandateGranted.TYPE: on_mandate_granted, MandateRevoked.TYPE: on_mandate_revoked}


# --- the statistics read model (its own consumer group: dossier.events and payment.events) ---


async def on_statistics_event(uow: UnitOfWork, event: CloudEvent) -> None:
    await statistics.apply_events(_dossier_unit(uow), [(event.type, event.data)])


async def on_statistics_events(uow: UnitOfWork, events: list[CloudEvent]) -> None:
    await statistics.apply_events(_dossier_unit(uow), [(e.type, e.data) for e in events])


STATISTICS: dict[str, Handler] = {kind: on_statistics_event for kind in statistics_rules.EVENT_TYPES}
STATISTICS_BATCHES: dict[str, BatchHandler] = {kind: on_statistics_events for kind in statistics_rules.EVENT_TYPES}
