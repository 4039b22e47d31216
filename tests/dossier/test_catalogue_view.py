"""The dossier service's read model of the catalogue, applied and read through its use cases on
the real PostgreSQL: duplicates, out-of-order delivery, retirement, versions, invalid data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from sqlalchemy import text

from services.dossier.app import SERVICE
from services.dossier.domain.catalogue_view import (
    InvalidCatalogueEvent,
    OfferedFee,
    ProcedureStatus,
    RequiredDocument,
    ServiceNotOffered,
    ServiceStatus,
    UnknownProcedure,
    UnknownService,
)
from services.dossier.service import catalogue_view as uc
from services.kit.db import Database, UnitOfWork
from services.kit.migrations import downgrade, upgrade
from tests.support.dossier import (
    dossier_database,
    new_service_id,
    procedure_definition,
    procedure_published,
    procedure_retired,
    service_published,
    service_retired,
)

pytestmark = pytest.mark.integration

UseCase = Callable[[UnitOfWork, Mapping[str, Any]], Awaitable[bool]]


async def apply(db: Database, use_case: UseCase, data: Mapping[str, Any]) -> bool:
    """Apply one event in its own committed transaction, as the consumer runner does."""
    async with db.transaction() as uow:
        return await use_case(uow, data)


async def read(db: Database, use_case, *args):  # type: ignore[no-untyped-def]
    async with db.transaction() as uow:
        return await use_case(uow, *args)


async def row_counts(db: Database) -> dict[str, int]:
    async with db.sessions() as session:
        return {
            table: await session.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in ("catalogue_services", "catalogue_service_versions", "catalogue_procedures")
        }


# --- online services ------------------------------------------------------------------------


async def test_published_service_is_offered_with_the_full_definition_its_event_carried(dossier_db: Database) -> None:
    sid = new_service_id()
    data = service_published(sid, revision=1, version=1)
    assert await apply(dossier_db, uc.apply_service_published, data) is True

    offered = await read(dossier_db, uc.offered_service, sid)
    assert (offered.service_id, offered.version, offered.current_version) == (sid, 1, 1)
    assert offered.service_status is ServiceStatus.PUBLISHED
    assert offered.form_schema == data["form_schema"]
    assert offered.fees == tuple(OfferedFee(code=f["code"], name=f["name"], amount=f["amount"],
                                            condition=f["condition"]) for f in data["fees"])  # fmt: skip
    assert offered.documents == tuple(RequiredDocument(code=d["code"], name=d["name"], required=d["required"])
                                      for d in procedure_definition()["documents"])  # fmt: skip
    procedure = data["procedure"]
    assert (offered.procedure_name, offered.results) == (procedure["name"], tuple(procedure["results"]))
    assert offered.agency_name == data["agency"]["name"]
    assert (offered.procedure_code, offered.agency_code) == ("1.002804", "000.00.01.H22")
    assert (offered.processing_days, offered.routing_target, offered.online_level) == (5, "one-stop.h22/v1", "full")
    assert offered.published_at.isoformat() == data["published_at"]


async def test_a_duplicate_publication_changes_nothing(dossier_db: Database) -> None:
    sid = new_service_id()
    data = service_published(sid, revision=1, version=1)
    await apply(dossier_db, uc.apply_service_published, data)
    before = await read(dossier_db, uc.offered_service, sid)

    assert await apply(dossier_db, uc.apply_service_published, data) is False

    assert await read(dossier_db, uc.offered_service, sid) == before
    assert await row_counts(dossier_db) == {"catalogue_services": 1, "catalogue_service_versions": 1,
                                            "catalogue_procedures": 0}  # fmt: skip


async def test_an_older_publication_after_a_newer_one_keeps_the_newer_version_current(dossier_db: Database) -> None:
    sid = new_service_id()
    await apply(dossier_db, uc.apply_service_published, service_published(sid, revision=2, version=2))

    assert await apply(dossier_db, uc.apply_service_published, service_published(sid, revision=1, version=1)) is False

    offered = await read(dossier_db, uc.offered_service, sid)
    assert (offered.version, offered.routing_target) == (2, "one-stop.h22/v2")
    # The late version is still stored: a dossier may have been filed under it.
    first = await read(dossier_db, uc.service_version, sid, 1)
    assert first.form_schema["title"] == "Đơn v1"
    assert first.current_version == 2


async def test_a_new_version_becomes_current_and_the_old_one_stays_readable(dossier_db: Database) -> None:
    sid = new_service_id()
    await apply(dossier_db, uc.apply_service_published, service_published(sid, revision=1, version=1))
    v2 = service_published(sid, revision=2, version=2, processing_days=3, online_level="partial")
    assert await apply(dossier_db, uc.apply_service_published, v2) is True

    current = await read(dossier_db, uc.offered_service, sid)
    assert (current.version, current.processing_days, current.online_level) == (2, 3, "partial")
    old = await read(dossier_db, uc.service_version, sid, 1)
    assert (old.version, old.processing_days, old.online_level, old.current_version) == (1, 5, "full", 2)
    assert old.fees[0].amount == 100_001 and current.fees[0].amount == 100_002


async def test_a_retired_service_takes_no_dossiers_and_a_late_publication_does_not_resurrect_it(
    dossier_db: Database,
) -> None:
    sid = new_service_id()
    await apply(dossier_db, uc.apply_service_published, service_published(sid, revision=1, version=1))
    assert await apply(dossier_db, uc.apply_service_retired, service_retired(sid, revision=3, last_version=2))

    assert await apply(dossier_db, uc.apply_service_published, service_published(sid, revision=2, version=2)) is False

    with pytest.raises(ServiceNotOffered):
        await read(dossier_db, uc.offered_service, sid)
    late = await read(dossier_db, uc.service_version, sid, 2)  # still readable for its dossiers
    assert late.service_status is ServiceStatus.RETIRED and late.routing_target == "one-stop.h22/v2"
    assert (await read(dossier_db, uc.service_version, sid, 1)).version == 1


async def test_a_late_retirement_does_not_retire_a_service_published_again_since(dossier_db: Database) -> None:
    sid = new_service_id()
    await apply(dossier_db, uc.apply_service_published, service_published(sid, revision=1, version=1))
    await apply(dossier_db, uc.apply_service_retired, service_retired(sid, revision=2))
    assert await apply(dossier_db, uc.apply_service_published, service_published(sid, revision=3, version=1))

    assert await apply(dossier_db, uc.apply_service_retired, service_retired(sid, revision=2)) is False

    assert (await read(dossier_db, uc.offered_service, sid)).version == 1


async def test_a_retirement_seen_before_any_publication_keeps_the_service_closed(dossier_db: Database) -> None:
    sid = new_service_id()
    assert await apply(dossier_db, uc.apply_service_retired, service_retired(sid, revision=4, last_version=3))
    await apply(dossier_db, uc.apply_service_published, service_published(sid, revision=3, version=3))

    with pytest.raises(ServiceNotOffered):
        await read(dossier_db, uc.offered_service, sid)
    assert (await read(dossier_db, uc.service_version, sid, 3)).form_schema["title"] == "Đơn v3"


async def test_unknown_services_and_versions_are_not_found(dossier_db: Database) -> None:
    sid = new_service_id()
    with pytest.raises(UnknownService):
        await read(dossier_db, uc.offered_service, sid)
    await apply(dossier_db, uc.apply_service_published, service_published(sid, revision=1, version=1))
    with pytest.raises(UnknownService):
        await read(dossier_db, uc.service_version, sid, 2)
    with pytest.raises(UnknownService):
        await read(dossier_db, uc.service_version, new_service_id(), 1)


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({"revision": 0}, id="revision below 1"),
        pytest.param({"fees": [{"code": "LP", "name": "Lệ phí", "amount": -1}]}, id="negative fee"),
        pytest.param({"online_level": "none"}, id="unknown online level"),
        pytest.param({"unexpected": True}, id="field outside the contract"),
        pytest.param({"procedure": {"code": "1.002804"}}, id="incomplete procedure"),
    ],
)
async def test_publication_breaking_its_contract_is_rejected_and_nothing_is_written(
    dossier_db: Database, broken: dict[str, Any]
) -> None:
    sid = new_service_id()
    with pytest.raises(InvalidCatalogueEvent):
        await apply(dossier_db, uc.apply_service_published, {**service_published(sid, revision=1, version=1), **broken})
    assert await row_counts(dossier_db) == {"catalogue_services": 0, "catalogue_service_versions": 0,
                                            "catalogue_procedures": 0}  # fmt: skip


async def test_invalid_events_leave_a_known_service_as_it_was(dossier_db: Database) -> None:
    sid = new_service_id()
    await apply(dossier_db, uc.apply_service_published, service_published(sid, revision=1, version=1))
    before = await read(dossier_db, uc.offered_service, sid)
    invalid_publication = service_published(sid, revision=2, version=2)
    del invalid_publication["routing_target"]
    invalid_retirement = {**service_retired(sid, revision=2), "retired_at": "yesterday"}

    with pytest.raises(InvalidCatalogueEvent):
        await apply(dossier_db, uc.apply_service_published, invalid_publication)
    with pytest.raises(InvalidCatalogueEvent):
        await apply(dossier_db, uc.apply_service_retired, invalid_retirement)

    assert await read(dossier_db, uc.offered_service, sid) == before
    with pytest.raises(UnknownService):
        await read(dossier_db, uc.service_version, sid, 2)


async def test_an_older_event_racing_a_newer_one_for_a_new_service_does_not_overwrite_it(dossier_db: Database) -> None:
    """Two writers of one aggregate (which the Kafka key rules out) still end in the newer state:
    the older one waits on the newer one's uncommitted row, then finds its revision higher."""
    sid = new_service_id()
    async with dossier_db.unit_of_work() as newer:
        await uc.apply_service_published(newer, service_published(sid, revision=2, version=2))

        async def older() -> bool:
            return await apply(dossier_db, uc.apply_service_published, service_published(sid, revision=1, version=1))

        racing = asyncio.create_task(older())
        await asyncio.sleep(0.3)
        assert not racing.done()  # blocked on the uncommitted row of the same service
        await newer.commit()
    assert await asyncio.wait_for(racing, 10) is False

    offered = await read(dossier_db, uc.offered_service, sid)
    assert (offered.version, offered.current_version) == (2, 2)
    assert (await read(dossier_db, uc.service_version, sid, 1)).version == 1


# --- procedures -----------------------------------------------------------------------------


async def test_procedure_follows_its_highest_revision_and_keeps_its_definition_when_retired(
    dossier_db: Database,
) -> None:
    code = "2.000033"
    assert await apply(dossier_db, uc.apply_procedure_published, procedure_published(code, 1, name="Đăng ký KM"))
    assert await apply(dossier_db, uc.apply_procedure_retired, procedure_retired(code, 3))
    assert await apply(dossier_db, uc.apply_procedure_published, procedure_published(code, 2, name="Cũ")) is False
    assert await apply(dossier_db, uc.apply_procedure_retired, procedure_retired(code, 3)) is False

    known = await read(dossier_db, uc.known_procedure, code)
    assert (known.revision, known.status, known.name) == (3, ProcedureStatus.RETIRED, "Đăng ký KM")
    assert known.definition is not None
    assert known.definition.model_dump(mode="json") == procedure_definition(code, name="Đăng ký KM")

    assert await apply(dossier_db, uc.apply_procedure_published, procedure_published(code, 4, processing_days=7))
    again = await read(dossier_db, uc.known_procedure, code)
    assert again.definition is not None and (again.status, again.definition.processing_days) == (
        ProcedureStatus.ACTIVE,
        7,
    )


async def test_a_procedure_retirement_seen_first_is_recorded_without_a_definition(dossier_db: Database) -> None:
    code = "1.001612"
    await apply(dossier_db, uc.apply_procedure_retired, procedure_retired(code, 2))
    await apply(dossier_db, uc.apply_procedure_published, procedure_published(code, 1))
    known = await read(dossier_db, uc.known_procedure, code)
    assert (known.status, known.name, known.definition) == (ProcedureStatus.RETIRED, None, None)
    with pytest.raises(UnknownProcedure):
        await read(dossier_db, uc.known_procedure, "9.999999")


async def test_retiring_a_procedure_leaves_its_services_to_their_own_events(dossier_db: Database) -> None:
    sid = new_service_id()
    await apply(dossier_db, uc.apply_procedure_published, procedure_published("1.002804", 1))
    await apply(dossier_db, uc.apply_service_published, service_published(sid, revision=1, version=1))
    await apply(dossier_db, uc.apply_procedure_retired, procedure_retired("1.002804", 2))

    assert (await read(dossier_db, uc.offered_service, sid)).procedure_code == "1.002804"
    await apply(dossier_db, uc.apply_service_retired, service_retired(sid, revision=2, last_version=1))
    with pytest.raises(ServiceNotOffered):
        await read(dossier_db, uc.offered_service, sid)


async def test_procedure_event_breaking_its_contract_writes_nothing(dossier_db: Database) -> None:
    with pytest.raises(InvalidCatalogueEvent):
        await apply(dossier_db, uc.apply_procedure_published, procedure_published("1.0", 1, level="district"))
    with pytest.raises(InvalidCatalogueEvent):
        await apply(dossier_db, uc.apply_procedure_retired, {"revision": 1, "retired_at": "2025-07-01T00:00:00Z"})
    assert (await row_counts(dossier_db))["catalogue_procedures"] == 0


# --- schema ---------------------------------------------------------------------------------


async def test_the_catalogue_view_migration_downgrades_and_upgrades_again(dossier_db_url: str) -> None:
    async def tables() -> set[str]:
        db = dossier_database(dossier_db_url)
        try:
            async with db.sessions() as session:
                names = await session.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
                return {n for n in names if n.startswith("catalogue_")}
        finally:
            await db.dispose()

    view = {"catalogue_services", "catalogue_service_versions", "catalogue_procedures"}
    assert await tables() == view
    await asyncio.to_thread(downgrade, SERVICE.migrations, dossier_db_url, "0001")
    assert await tables() == set()
    await asyncio.to_thread(upgrade, SERVICE.migrations, dossier_db_url)
    assert await tables() == view
