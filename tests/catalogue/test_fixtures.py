"""The development fixtures: idempotent, refused in production, binding agency 000.00.01.H22."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.catalogue.adapters.tables import agencies, online_service_versions, online_services, service_search
from services.catalogue.domain.definitions import ServiceDraftChanges
from services.catalogue.service import editor
from services.catalogue.service.fixtures import FIXTURES_EDITOR, OFFERS, seed, service_id
from services.kit.db import Database
from services.kit.errors import Forbidden
from services.kit.settings import Environment
from tests.support.catalogue import catalogue_settings

pytestmark = pytest.mark.integration


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.transaction() as uow:
        run = uow.session.scalar
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
            await uow.session.scalar(select(online_services.c.published_version).where(online_services.c.id == sid))
            == 2
        )


async def test_the_agency_of_the_identity_demo_official_exists(catalogue_db: Database) -> None:
    async with catalogue_db.transaction() as uow:
        row = (await uow.session.execute(select(agencies).where(agencies.c.code == "000.00.01.H22"))).one()
    assert (row.level, row.parent_code, row.province_code) == ("department", "000.00.00.H22", "H22")


async def test_fixtures_are_refused_in_production(catalogue_db: Database, infra) -> None:  # type: ignore[no-untyped-def]
    settings = catalogue_settings("postgresql://unused/x", infra.bootstrap).model_copy(
        update={"environment": Environment.PRODUCTION}
    )
    with pytest.raises(Forbidden):
        await seed(catalogue_db, settings)
