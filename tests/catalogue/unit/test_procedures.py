"""Publishing and retiring procedures: the events they emit, with their data, and the refusals."""

from __future__ import annotations

import pytest

from contracts.events.catalogue import (
    OnlineServicePublished,
    OnlineServiceRetired,
    ProcedurePublished,
    ProcedureRetired,
)
from services.catalogue.domain.model import ProcedureStatus, ServiceStatus
from services.catalogue.service import editor
from services.catalogue.service.editor import Outcome
from services.kit.errors import Conflict, Forbidden, NotFound
from tests.catalogue.fakes import FakeCatalogueUnitOfWork

from .conftest import ADMIN, H22_TRANSPORT, H29_TRANSPORT, OFFICIAL_H22, procedure_input, service_input


async def test_a_new_procedure_is_published_with_its_whole_definition(uow: FakeCatalogueUnitOfWork) -> None:
    async with uow:
        written = await editor.upsert_procedure(uow, ADMIN, procedure_input())
        await uow.commit()
    assert written == editor.Written(Outcome.CREATED, "1.002804")
    (event,) = uow.events(ProcedurePublished)
    assert event.revision == 1
    assert (event.procedure.code, event.procedure.sector_code, event.procedure.sector_name) == (
        "1.002804", "DB", "Đường bộ")  # fmt: skip
    assert [(fee.code, fee.amount, fee.condition) for fee in event.procedure.fees] == [("LP01", 135_000, None)]
    assert [d.code for d in event.procedure.documents] == ["TP01"]
    assert uow.emitted[0].subject == "1.002804" and uow.emitted[0].source == "catalogue"
    assert uow.state.procedures["1.002804"].status == ProcedureStatus.ACTIVE
    assert uow.state.sectors["DB"].name == "Đường bộ"
    assert [e.action for e in uow.state.audit] == ["procedure.created"]
    assert uow.state.refreshed_procedures == ["1.002804"]


async def test_the_same_definition_again_writes_and_emits_nothing(uow: FakeCatalogueUnitOfWork) -> None:
    async with uow:
        await editor.upsert_procedure(uow, ADMIN, procedure_input())
        again = await editor.upsert_procedure(uow, ADMIN, procedure_input())
        await uow.commit()
    assert again.outcome == Outcome.UNCHANGED
    assert uow.types() == [ProcedurePublished.TYPE]
    assert uow.state.procedures["1.002804"].revision == 1


async def test_a_changed_faq_alone_is_an_update_without_an_event(uow: FakeCatalogueUnitOfWork) -> None:
    async with uow:
        await editor.upsert_procedure(uow, ADMIN, procedure_input())
        written = await editor.upsert_procedure(
            uow, ADMIN, procedure_input(faq=[{"question": "Phí?", "answer": "135.000 đồng."}])
        )
        await uow.commit()
    assert written.outcome == Outcome.UPDATED
    assert uow.types() == [ProcedurePublished.TYPE]
    assert [f.question for f in uow.state.faq["1.002804"]] == ["Phí?"]


async def test_a_change_publishes_the_next_revision(uow: FakeCatalogueUnitOfWork) -> None:
    async with uow:
        await editor.upsert_procedure(uow, ADMIN, procedure_input())
        written = await editor.upsert_procedure(uow, ADMIN, procedure_input(processing_days=3))
        await uow.commit()
    assert written.outcome == Outcome.UPDATED
    assert [(e.revision, e.procedure.processing_days) for e in uow.events(ProcedurePublished)] == [(1, 5), (2, 3)]


async def test_only_administrators_edit_procedures(uow: FakeCatalogueUnitOfWork) -> None:
    async with uow:
        with pytest.raises(Forbidden):
            await editor.upsert_procedure(uow, OFFICIAL_H22, procedure_input())
        with pytest.raises(Forbidden):
            await editor.retire_procedure(uow, OFFICIAL_H22, "1.002804")
    assert uow.state.procedures == {} and uow.emitted == []


async def test_an_unknown_sector_needs_its_name(uow: FakeCatalogueUnitOfWork) -> None:
    async with uow:
        with pytest.raises(editor.UnknownReference) as refused:
            await editor.upsert_procedure(uow, ADMIN, procedure_input(sector_code="XX", sector_name=None))
    # A conflict with the catalogue as it is (409), not a malformed request: the same body is
    # accepted once the sector exists, or with its name.
    assert isinstance(refused.value, Conflict)
    assert refused.value.extra["errors"][0]["field"] == "sector_code"
    assert uow.state.procedures == {}
    async with uow:
        written = await editor.upsert_procedure(uow, ADMIN, procedure_input(sector_code="XX", sector_name="Mới"))
    assert written.outcome is Outcome.CREATED


async def test_retiring_a_procedure_retires_its_published_services_first(uow: FakeCatalogueUnitOfWork) -> None:
    async with uow:
        await editor.upsert_procedure(uow, ADMIN, procedure_input())
        first = await editor.put_service(uow, ADMIN, service_input(H22_TRANSPORT))
        second = await editor.put_service(uow, ADMIN, service_input(H29_TRANSPORT))
        await uow.commit()
    async with uow:
        written = await editor.retire_procedure(uow, ADMIN, "1.002804")
        await uow.commit()
    assert written.outcome == Outcome.UPDATED
    assert uow.types()[-3:] == [OnlineServiceRetired.TYPE, OnlineServiceRetired.TYPE, ProcedureRetired.TYPE]
    retired = uow.events(OnlineServiceRetired)
    assert sorted(e.service_id for e in retired) == sorted([first.id, second.id])
    assert all((e.revision, e.last_version) == (2, 1) for e in retired)
    (procedure_retired,) = uow.events(ProcedureRetired)
    assert (procedure_retired.code, procedure_retired.revision) == ("1.002804", 2)
    assert uow.state.procedures["1.002804"].status == ProcedureStatus.RETIRED
    assert {s.status for s in uow.state.services.values()} == {ServiceStatus.RETIRED}


async def test_retiring_twice_changes_nothing_the_second_time(uow: FakeCatalogueUnitOfWork) -> None:
    async with uow:
        await editor.upsert_procedure(uow, ADMIN, procedure_input())
        await editor.retire_procedure(uow, ADMIN, "1.002804")
        again = await editor.retire_procedure(uow, ADMIN, "1.002804")
        await uow.commit()
    assert again.outcome == Outcome.UNCHANGED
    assert uow.types() == [ProcedurePublished.TYPE, ProcedureRetired.TYPE]


async def test_a_retired_procedure_published_again_is_active_at_its_next_revision(
    uow: FakeCatalogueUnitOfWork,
) -> None:
    async with uow:
        await editor.upsert_procedure(uow, ADMIN, procedure_input())
        await editor.retire_procedure(uow, ADMIN, "1.002804")
        written = await editor.upsert_procedure(uow, ADMIN, procedure_input())
        await uow.commit()
    assert written.outcome == Outcome.UPDATED
    assert [e.revision for e in uow.events(ProcedurePublished)] == [1, 3]
    assert uow.state.procedures["1.002804"].status == ProcedureStatus.ACTIVE


async def test_retiring_an_unknown_procedure_is_not_found(uow: FakeCatalogueUnitOfWork) -> None:
    async with uow:
        with pytest.raises(NotFound):
            await editor.retire_procedure(uow, ADMIN, "9.999999")


async def test_a_service_published_carries_the_procedure_as_it_stands(uow: FakeCatalogueUnitOfWork) -> None:
    async with uow:
        await editor.upsert_procedure(uow, ADMIN, procedure_input())
        await editor.put_service(uow, ADMIN, service_input())
        await uow.commit()
    (event,) = uow.events(OnlineServicePublished)
    assert event.procedure == uow.events(ProcedurePublished)[0].procedure
