"""The development fixtures: idempotent, refused in production, binding agency 000.00.01.H22."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from contracts.registry import EVENT_TYPES
from services.catalogue.adapters.tables import agencies, online_service_versions, online_services, service_search
from services.catalogue.domain.definitions import ServiceDraftChanges
from services.catalogue.service import editor
from services.catalogue.service.fixtures import FIXTURES_EDITOR, OFFERS, PROCEDURES, seed, service_id
from services.kit.db import Database
from services.kit.errors import Forbidden
from services.kit.settings import Environment
from services.kit.tables import outbox
from tests.support.catalogue import catalogue_settings

pytestmark = pytest.mark.integration


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.transaction() as uow:
        run = uow.connection.scalar
        return (
            await run(select(func.count()).select_from(online_services)),
            await run(select(func.count()).select_from(online_service_versions)),
            await run(select(func.count()).select_from(service_search)),
        )


async def test_seeding_twice_changes_nothing_and_keeps_later_versions(catalogue_db: Database, infra) -> None:  # type: ignore[no-untyped-def]
    settings = catalogue_settings("postgresql://unused/x", infra.bootstrap)
    sid = service_id("1.001193", "000.01.01.H29")
    async with catalogue_db.transaction() as uow:
        await editor.edit_draft(uow, FIXTURES_EDITOR, sid, ServiceDraftChanges(processing_days=2))
        await editor.publish(uow, FIXTURES_EDITOR, sid)
    before = await counts(catalogue_db)
    await seed(catalogue_db, settings)
    services = sum(len(agencies) for agencies, _ in OFFERS.values())
    assert await counts(catalogue_db) == before == (services, services + 1, services)
    async with catalogue_db.transaction() as uow:
        assert (
            await uow.connection.scalar(select(online_services.c.published_version).where(online_services.c.id == sid))
            == 2
        )


async def test_the_agency_of_the_identity_demo_official_exists(catalogue_db: Database) -> None:
    async with catalogue_db.transaction() as uow:
        row = (await uow.connection.execute(select(agencies).where(agencies.c.code == "000.00.01.H22"))).one()
    assert (row.level, row.parent_code, row.province_code) == ("department", "000.00.00.H22", "H22")


async def test_fixtures_are_refused_in_production(catalogue_db: Database, infra) -> None:  # type: ignore[no-untyped-def]
    settings = catalogue_settings("postgresql://unused/x", infra.bootstrap).model_copy(
        update={"environment": Environment.PRODUCTION}
    )
    with pytest.raises(Forbidden):
        await seed(catalogue_db, settings)


async def test_every_one_of_the_34_provincial_units_has_its_committee_and_departments(catalogue_db: Database) -> None:
    async with catalogue_db.transaction() as uow:
        rows = (await uow.connection.execute(select(agencies.c.code, agencies.c.level, agencies.c.province_code))).all()
    provinces = {r.province_code for r in rows if r.level == "province"}
    assert len(provinces) == 34
    departments = [r for r in rows if r.level == "department"]
    assert {p: sum(1 for d in departments if d.province_code == p) for p in provinces} == dict.fromkeys(provinces, 5)


async def test_seeding_publishes_every_service_and_procedure_once_with_valid_events(catalogue_db: Database) -> None:
    async with catalogue_db.transaction() as uow:
        rows = (await uow.connection.execute(select(outbox.c.type, outbox.c.data, outbox.c.key))).all()
    published = [r for r in rows if r.type == "catalogue.online_service.published.v1"]
    assert sorted(r.key for r in published) == sorted(
        service_id(code, agency) for code, (agency_codes, _) in OFFERS.items() for agency in agency_codes
    )
    assert len([r for r in rows if r.type == "catalogue.procedure.published.v1"]) == len(PROCEDURES)
    for row in rows:
        EVENT_TYPES[row.type].model_validate(row.data)
