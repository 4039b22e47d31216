"""What this service keeps of other services' events, to route feedback without reading their
databases: procedures and the agencies offering them (``catalogue.events``), and each dossier's
owner and agency (``dossier.events``)."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.events.catalogue import (
    OnlineServicePublished,
    OnlineServiceRetired,
    ProcedurePublished,
    ProcedureRetired,
)
from contracts.events.dossier import DossierSubmitted

from ..domain.routing import KnownDossier, Offer, Procedure
from .unit_of_work import FeedbackUnitOfWork


def _procedure(event: ProcedurePublished | OnlineServicePublished) -> Procedure:
    p = event.procedure
    return Procedure(p.code, p.name, p.sector_code, p.sector_name)


async def procedure_published(uow: FeedbackUnitOfWork, event: ProcedurePublished) -> None:
    await uow.catalogue.save_procedure(_procedure(event))


async def procedure_retired(uow: FeedbackUnitOfWork, event: ProcedureRetired) -> None:
    await uow.catalogue.retire_procedure(event.code)


async def online_service_published(uow: FeedbackUnitOfWork, event: OnlineServicePublished) -> None:
    await uow.catalogue.save_procedure(_procedure(event))
    await uow.catalogue.save_offer(event.service_id, event.procedure.code, Offer(event.agency.code, event.agency.name))


async def online_service_retired(uow: FeedbackUnitOfWork, event: OnlineServiceRetired) -> None:
    await uow.catalogue.retire_offer(event.service_id)


async def dossier_submitted(uow: FeedbackUnitOfWork, event: DossierSubmitted) -> None:
    await uow.dossiers.filed(KnownDossier(event.code, event.owner, event.agency_code, event.procedure_code))


async def dossiers_submitted(uow: FeedbackUnitOfWork, events: Sequence[DossierSubmitted]) -> None:
    await uow.dossiers.filed_many([KnownDossier(e.code, e.owner, e.agency_code, e.procedure_code) for e in events])
