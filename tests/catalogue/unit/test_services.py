"""Online services: drafts, publishing (the event and its data), retiring, who may do what."""

from __future__ import annotations

import pytest

from contracts.events.catalogue import OnlineServicePublished, OnlineServiceRetired
from services.catalogue.domain.definitions import ServiceDraftChanges, service_id
from services.catalogue.domain.model import OnlineLevel, ServiceStatus
from services.catalogue.service import catalogue, editor
from services.catalogue.service.editor import Outcome
from services.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.catalogue.fakes import FakeCatalogueUnitOfWork

from .conftest import ADMIN, FORM, H22_TRANSPORT, H29_TRANSPORT, OFFICIAL_H22, procedure_input, service_input

SID = service_id("1.002804", H22_TRANSPORT)


@pytest.fixture
async def with_procedure(uow: FakeCatalogueUnitOfWork) -> FakeCatalogueUnitOfWork:
    async with uow:
        await editor.upsert_procedure(uow, ADMIN, procedure_input())
        await uow.commit()
    uow.emitted.clear()
    return uow


async def test_a_created_service_is_a_draft_nobody_hears_of(with_procedure: FakeCatalogueUnitOfWork) -> None:
    uow = with_procedure
    async with uow:
        written = await editor.create_service(uow, OFFICIAL_H22, service_input())
        draft = await editor.get_draft(uow, OFFICIAL_H22, SID)
        await uow.commit()
    assert written == editor.Written(Outcome.CREATED, SID)
    assert (draft.version, draft.definition.online_level, draft.published_at) == (1, OnlineLevel.FULL, None)
    assert uow.emitted == []
    assert uow.state.services[SID].status == ServiceStatus.DRAFT
    with pytest.raises(NotFound):
        await catalogue.service_detail(uow, SID)


async def test_publishing_emits_the_version_with_its_form_fees_and_agency(
    with_procedure: FakeCatalogueUnitOfWork,
) -> None:
    uow = with_procedure
    async with uow:
        await editor.create_service(uow, OFFICIAL_H22, service_input())
        state = await editor.publish(uow, OFFICIAL_H22, SID)
        await uow.commit()
    assert state == editor.ServiceState(SID, ServiceStatus.PUBLISHED, 1, 1)
    (event,) = uow.events(OnlineServicePublished)
    assert (event.service_id, event.version, event.revision) == (SID, 1, 1)
    assert (event.agency.code, event.agency.province_code) == (H22_TRANSPORT, "H22")
    assert event.form_schema == FORM and [f.amount for f in event.fees] == [135_000]
    assert (event.online_level, event.routing_target, event.procedure.code) == ("full", f"motcua:{H22_TRANSPORT}",
                                                                               "1.002804")  # fmt: skip
    assert uow.emitted[0].subject == SID
    detail = await catalogue.service_detail(uow, SID)
    assert (detail.version, detail.current_version, detail.agency.name) == (1, 1, "Sở Xây dựng tỉnh Quảng Ninh")


async def test_a_new_version_is_published_from_an_edited_draft(with_procedure: FakeCatalogueUnitOfWork) -> None:
    uow = with_procedure
    async with uow:
        await editor.put_service(uow, ADMIN, service_input())
        edited = await editor.edit_draft(uow, OFFICIAL_H22, SID, ServiceDraftChanges(processing_days=3))
        await editor.publish(uow, OFFICIAL_H22, SID)
        await uow.commit()
    assert (edited.version, edited.definition.processing_days, edited.definition.form_schema) == (2, 3, FORM)
    assert [(e.version, e.revision, e.processing_days) for e in uow.events(OnlineServicePublished)] == [
        (1, 1, 5), (2, 2, 3)]  # fmt: skip
    assert (await catalogue.service_detail(uow, SID, 1)).processing_days == 5
    assert (await catalogue.service_detail(uow, SID)).processing_days == 3


async def test_an_edit_naming_no_field_is_refused(with_procedure: FakeCatalogueUnitOfWork) -> None:
    uow = with_procedure
    async with uow:
        await editor.create_service(uow, ADMIN, service_input())
        with pytest.raises(ValidationFailed):
            await editor.edit_draft(uow, ADMIN, SID, ServiceDraftChanges())


async def test_officials_edit_only_their_own_agencys_services(with_procedure: FakeCatalogueUnitOfWork) -> None:
    uow = with_procedure
    other = service_id("1.002804", H29_TRANSPORT)
    async with uow:
        with pytest.raises(Forbidden):
            await editor.create_service(uow, OFFICIAL_H22, service_input(H29_TRANSPORT))
        await editor.create_service(uow, ADMIN, service_input(H29_TRANSPORT))
        for attempt in (editor.publish, editor.retire, editor.get_draft):
            with pytest.raises(Forbidden):
                await attempt(uow, OFFICIAL_H22, other)
        await uow.commit()
    assert uow.emitted == [] and uow.state.services[other].status == ServiceStatus.DRAFT


async def test_a_service_of_an_unknown_procedure_or_agency_is_refused(with_procedure: FakeCatalogueUnitOfWork) -> None:
    uow = with_procedure
    async with uow:
        # Well formed, but naming what the catalogue does not have: a conflict with its state (409).
        with pytest.raises(editor.UnknownReference) as no_procedure:
            await editor.create_service(uow, ADMIN, service_input(procedure="9.000001"))
        with pytest.raises(editor.UnknownReference) as no_agency:
            await editor.create_service(uow, ADMIN, service_input(agency="000.99.99.H99"))
        await editor.create_service(uow, ADMIN, service_input())
        with pytest.raises(Conflict):
            await editor.create_service(uow, ADMIN, service_input())
    assert no_procedure.value.extra["errors"][0]["field"] == "procedure_code"
    assert no_agency.value.extra["errors"][0]["field"] == "agency_code"


async def test_publishing_without_a_draft_or_under_a_retired_procedure_is_a_conflict(
    with_procedure: FakeCatalogueUnitOfWork,
) -> None:
    uow = with_procedure
    async with uow:
        await editor.put_service(uow, ADMIN, service_input())
        with pytest.raises(Conflict):
            await editor.publish(uow, ADMIN, SID)  # its only version is published: no draft
        await editor.edit_draft(uow, ADMIN, SID, ServiceDraftChanges(processing_days=2))
        await editor.retire_procedure(uow, ADMIN, "1.002804")
        with pytest.raises(Conflict, match="retired"):
            await editor.publish(uow, ADMIN, SID)


async def test_a_service_never_published_retires_without_an_event(with_procedure: FakeCatalogueUnitOfWork) -> None:
    uow = with_procedure
    async with uow:
        await editor.create_service(uow, ADMIN, service_input())
        first = await editor.retire(uow, ADMIN, SID)
        second = await editor.retire(uow, ADMIN, SID)
        await uow.commit()
    assert (first.status, first.changed, second.changed) == (ServiceStatus.RETIRED, True, False)
    assert uow.emitted == []


async def test_retiring_a_published_service_names_its_last_version(with_procedure: FakeCatalogueUnitOfWork) -> None:
    uow = with_procedure
    async with uow:
        await editor.put_service(uow, ADMIN, service_input())
        state = await editor.retire(uow, OFFICIAL_H22, SID)
        await uow.commit()
    (event,) = uow.events(OnlineServiceRetired)
    assert (event.service_id, event.revision, event.last_version) == (SID, 2, 1)
    assert (state.revision, state.changed) == (2, True)
    with pytest.raises(NotFound):
        await catalogue.service_detail(uow, SID)  # no longer current
    assert (await catalogue.service_detail(uow, SID, 1)).status == ServiceStatus.RETIRED


async def test_putting_the_same_service_again_is_unchanged_and_a_change_is_a_new_version(
    with_procedure: FakeCatalogueUnitOfWork,
) -> None:
    uow = with_procedure
    async with uow:
        created = await editor.put_service(uow, ADMIN, service_input())
        same = await editor.put_service(uow, ADMIN, service_input())
        changed = await editor.put_service(uow, ADMIN, service_input(online_level="partial"))
        await uow.commit()
    assert [w.outcome for w in (created, same, changed)] == [Outcome.CREATED, Outcome.UNCHANGED, Outcome.UPDATED]
    assert [(e.version, e.online_level) for e in uow.events(OnlineServicePublished)] == [(1, "full"), (2, "partial")]


async def test_the_audit_trail_is_newest_first_and_for_the_service_editors(
    with_procedure: FakeCatalogueUnitOfWork,
) -> None:
    uow = with_procedure
    async with uow:
        await editor.put_service(uow, ADMIN, service_input())
        trail = await editor.audit_trail(uow, OFFICIAL_H22, f"service:{SID}", 10)
        with pytest.raises(Forbidden):
            await editor.audit_trail(uow, OFFICIAL_H22, "procedure:1.002804", 10)
    assert [e.action for e in trail] == ["service.published", "service.created"]
    assert all(e.actor == "admin-1" for e in trail)
