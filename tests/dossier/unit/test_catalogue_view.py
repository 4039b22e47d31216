"""The catalogue's read model as use cases, on the fake unit of work: the highest revision wins
whatever the order of delivery, every published version is kept, a retired service takes no
dossier, and API processes are told of each change."""

from __future__ import annotations

import pytest

from services.dossier.domain.catalogue_view import (
    InvalidCatalogueEvent,
    ProcedureStatus,
    ServiceNotOffered,
    UnknownProcedure,
    UnknownService,
)
from services.dossier.service import catalogue_view
from tests.dossier.fakes import FakeDossierUnitOfWork
from tests.support.dossier import (
    new_service_id,
    procedure_published,
    procedure_retired,
    service_published,
    service_retired,
)


async def test_the_newest_revision_wins_and_every_version_is_kept() -> None:
    uow, sid = FakeDossierUnitOfWork(), new_service_id()
    assert await catalogue_view.apply_service_published(uow, service_published(sid, 2, 2)) is True
    # Version 1 arrives late: stored (a dossier may have been filed under it), not made current.
    assert await catalogue_view.apply_service_published(uow, service_published(sid, 1, 1)) is False
    current = await catalogue_view.offered_service(uow, sid)
    assert (current.version, current.revision, current.routing_target) == (2, 2, "one-stop.h22/v2")
    assert (await catalogue_view.service_version(uow, sid, 1)).routing_target == "one-stop.h22/v1"
    assert uow.catalogue.announced == [sid, sid]
    with pytest.raises(UnknownService):
        await catalogue_view.service_version(uow, sid, 3)


async def test_a_retired_service_takes_no_dossier_and_a_stale_retirement_changes_nothing() -> None:
    uow, sid = FakeDossierUnitOfWork(), new_service_id()
    await catalogue_view.apply_service_published(uow, service_published(sid, 1, 1))
    assert await catalogue_view.apply_service_retired(uow, service_retired(sid, 2, 1)) is True
    with pytest.raises(ServiceNotOffered):
        await catalogue_view.offered_service(uow, sid)
    assert await catalogue_view.apply_service_published(uow, service_published(sid, 3, 2)) is True
    assert await catalogue_view.apply_service_retired(uow, service_retired(sid, 2, 1)) is False
    assert (await catalogue_view.offered_service(uow, sid)).version == 2
    with pytest.raises(UnknownService):
        await catalogue_view.offered_service(uow, new_service_id())


async def test_procedures_keep_their_last_definition_when_retired() -> None:
    uow = FakeDossierUnitOfWork()
    assert await catalogue_view.apply_procedure_published(uow, procedure_published("1.002804", 1)) is True
    assert await catalogue_view.apply_procedure_retired(uow, procedure_retired("1.002804", 2)) is True
    assert await catalogue_view.apply_procedure_published(uow, procedure_published("1.002804", 1)) is False
    known = await catalogue_view.known_procedure(uow, "1.002804")
    assert (known.status, known.revision, known.name) == (ProcedureStatus.RETIRED, 2, "Cấp đổi giấy phép lái xe")
    assert known.definition is not None and known.definition.code == "1.002804"
    with pytest.raises(UnknownProcedure):
        await catalogue_view.known_procedure(uow, "9.999999")


async def test_malformed_event_data_is_refused_before_anything_is_written() -> None:
    uow, sid = FakeDossierUnitOfWork(), new_service_id()
    broken = {**service_published(sid, 1, 1), "version": 0}
    with pytest.raises(InvalidCatalogueEvent):
        await catalogue_view.apply_service_published(uow, broken)
    assert uow.offered.states == {} and uow.offered.versions == {} and uow.catalogue.announced == []
