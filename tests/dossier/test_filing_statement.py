"""A submission is written by one statement (number, dossier, first timeline line, events), and
the service's definition may come from the process's cache: the code the statement makes is
the one the domain spells, the events carry it in order, and a cached definition the catalogue
has since replaced, withdrawn or re-stored is never filed against."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy import insert, select

from contracts.events.dossier import DossierSubmitted, FeesAssessed, StatusChanged
from services.dossier.adapters.tables import dossier_history, dossier_sequences, dossiers
from services.dossier.api.schemas import DossierReceiptPublic
from services.dossier.domain.access import Caller
from services.dossier.domain.codes import dossier_code
from services.dossier.domain.dossier import Applicant
from services.dossier.service import catalogue_view, intake
from services.kit.calendar import VIETNAM_TZ, WorkingCalendar
from services.kit.db import Database, UnitOfWork
from services.kit.tables import outbox
from tests.dossier.test_submission import rows
from tests.support.dossier import (
    INTAKE_AGENCY,
    INTAKE_FEES,
    INTAKE_FORM,
    dossier_database,
    new_service_id,
    publish_into,
    service_published,
    service_retired,
)

pytestmark = pytest.mark.integration

CALENDAR = WorkingCalendar(frozenset())
ISSUER = intake.Issuer("portal", "https://portal.test/tra-cuu", "applicant-key-secret-for-tests-0123456789")
LIMITS = intake.Limits(1_000_000, 20, 64 * 1024, 10)


class Owner:
    subject = "citizen-9"


def body(service_id: str, **form: str) -> intake.Submission:
    return intake.Submission(
        service_id=service_id,
        applicant=Applicant(kind="citizen", identifier="001099012345", name="Nguyễn Văn An"),
        form=form or {"ho_ten": "Nguyễn Văn An", "so_gplx": "220123456789"},
    )


async def submit_in(uow: UnitOfWork, service_id: str, cache: catalogue_view.OfferedCache | None = None,
                    **form: str) -> dict:  # fmt: skip
    receipt, created = await intake.submit(
        uow, Caller.of(Owner.subject, frozenset({"dossier:submit"}), {}), body(service_id, **form),
        idempotency_key=None, limits=LIMITS, calendar=CALENDAR, issuer=ISSUER, offered_cache=cache,
    )  # fmt: skip
    assert created
    return DossierReceiptPublic.of(receipt).model_dump(mode="json")


async def file(db: Database, service_id: str, cache: catalogue_view.OfferedCache | None, **form: str) -> dict:
    async with db.transaction() as uow:
        return await submit_in(uow, service_id, cache, **form)


async def published(dossier_db_url: str) -> str:
    service_id = new_service_id()
    await publish_into(dossier_db_url, ("published", service_published(service_id, 1, 1, **optional_documents())))
    return service_id


def optional_documents() -> dict:
    """A service whose documents are all optional, so a dossier without files is complete."""
    from tests.support.dossier import procedure_definition

    procedure = procedure_definition()
    procedure["documents"] = [{**d, "required": False} for d in procedure["documents"]]
    return {"procedure": procedure, "form_schema": INTAKE_FORM, "fees": INTAKE_FEES}


@pytest.fixture
async def db(dossier_db_url: str):  # type: ignore[no-untyped-def]
    database = dossier_database(dossier_db_url)
    yield database
    await database.dispose()


@pytest.mark.parametrize("last", [0, 9_998, 9_999, 123_455])
async def test_the_statement_spells_the_code_as_the_domain_does(db: Database, dossier_db_url: str, last: int) -> None:
    service_id = await published(dossier_db_url)
    today = datetime.now(VIETNAM_TZ).date()
    if last:
        async with db.transaction() as uow:
            await uow.connection.execute(insert(dossier_sequences).values(agency_code=INTAKE_AGENCY, day=today,
                                                                       last_value=last))  # fmt: skip
    receipt = await file(db, service_id, None)
    assert receipt["code"] == dossier_code(INTAKE_AGENCY, today, last + 1)
    (stored,) = await rows(dossier_db_url, select(dossiers.c.id, dossiers.c.code, dossiers.c.status))
    assert (stored.id, stored.code, stored.status) == (receipt["dossier_id"], receipt["code"], 1)
    (line,) = await rows(dossier_db_url, select(dossier_history))
    assert (line.dossier_id, line.previous, line.status, line.source, line.actor) == (
        receipt["dossier_id"], None, 1, "portal", Owner.subject)  # fmt: skip
    events = await rows(dossier_db_url, select(outbox.c.type, outbox.c.key, outbox.c.data).order_by(outbox.c.id))
    assert [e.type for e in events] == [DossierSubmitted.TYPE, FeesAssessed.TYPE, StatusChanged.TYPE]
    assert {e.key for e in events} == {receipt["dossier_id"]}
    assert [e.data["code"] for e in events] == [receipt["code"]] * 3
    assert datetime.fromisoformat(events[0].data["received_at"]) == datetime.fromisoformat(receipt["received_at"])


async def test_a_cached_definition_is_used_only_while_the_catalogue_still_offers_it(
    db: Database, dossier_db_url: str
) -> None:
    service_id = new_service_id()
    extra = optional_documents()
    await publish_into(dossier_db_url, ("published", service_published(service_id, 1, 1, **extra)))
    cache = catalogue_view.OfferedCache()
    first = await file(db, service_id, cache)
    assert (first["service_version"], cache.get(service_id)[0].version) == (1, 1)

    # Version 2 asks for another field: the cached version 1 must not be filed against.
    form_v2 = {**INTAKE_FORM, "required": [*INTAKE_FORM["required"], "noi_cu_tru"]}
    version_2 = service_published(service_id, 2, 2, **{**extra, "form_schema": form_v2})
    await publish_into(dossier_db_url, ("published", version_2))
    with pytest.raises(intake.ValidationFailed):
        await file(db, service_id, cache)
    assert cache.get(service_id)[0].version == 2  # read again when the statement refused the stale one
    second = await file(db, service_id, cache, ho_ten="An", so_gplx="220123456789", noi_cu_tru={"tinh": "QN"})
    assert second["service_version"] == 2

    # The same version re-stored by a later revision (a correction) is read again too.
    corrected = {**extra, "form_schema": form_v2, "fees": [{**INTAKE_FEES[0], "amount": 150_000}]}
    await publish_into(dossier_db_url, ("published", service_published(service_id, 3, 2, **corrected)))
    third = await file(db, service_id, cache, ho_ten="An", so_gplx="220123456789", noi_cu_tru={"tinh": "QN"})
    assert third["fee_total"] == 150_000

    # Withdrawn: 409, whatever the cache remembers, and nothing more is written.
    await publish_into(dossier_db_url, ("retired", service_retired(service_id, 4, 2)))
    with pytest.raises(catalogue_view.ServiceNotOffered):
        await file(db, service_id, cache, ho_ten="An", so_gplx="220123456789", noi_cu_tru={"tinh": "QN"})
    stored = await rows(dossier_db_url, select(dossiers.c.code).order_by(dossiers.c.code))
    today = datetime.now(VIETNAM_TZ).date()
    # Refused attempts took no number: the three dossiers hold 1, 2, 3.
    assert [r.code for r in stored] == [dossier_code(INTAKE_AGENCY, today, n) for n in (1, 2, 3)]
    assert len(await rows(dossier_db_url, select(outbox.c.id))) == 9


def test_the_cache_is_bounded_and_forgets_the_least_recently_used() -> None:
    cache = catalogue_view.OfferedCache(size=2)
    made = [
        catalogue_view.OfferedVersion(
            service_id=f"s{i}",
            version=1,
            service_status=catalogue_view.ServiceStatus.PUBLISHED,
            current_version=1,
            online_level="full",
            procedure_code="1.0",
            procedure_name=None,
            results=(),
            agency_code="A",
            agency_name=None,
            form_schema={"type": "object"},
            fees=(),
            documents=(),
            processing_days=1,
            routing_target="r",
            published_at=datetime(2025, 1, 1),
            revision=1,
        )
        for i in range(3)
    ]
    cache.put(made[0])
    cache.put(made[1])
    assert cache.get("s0") is not None  # s0 is now the most recently used
    cache.put(made[2])
    assert (cache.get("s0") is not None, cache.get("s1"), cache.get("s2") is not None) == (True, None, True)


async def test_a_rolled_back_number_is_given_back(db: Database, dossier_db_url: str) -> None:
    service_id = await published(dossier_db_url)
    today = datetime.now(VIETNAM_TZ).date()
    async with db.unit_of_work() as first:
        assert (await submit_in(first, service_id))["code"] == dossier_code(INTAKE_AGENCY, today, 1)
        assert (await submit_in(first, service_id))["code"] == dossier_code(INTAKE_AGENCY, today, 2)
        await first.rollback()
    assert (await file(db, service_id, None))["code"] == dossier_code(INTAKE_AGENCY, today, 1)
    assert [tuple(r) for r in await rows(dossier_db_url, select(dossier_sequences.c.last_value))] == [(1,)]
    assert len(await rows(dossier_db_url, select(outbox.c.id))) == 3  # the rolled-back events went too


async def test_a_concurrent_submission_waits_and_takes_the_number_a_rollback_gave_back(
    db: Database, dossier_db_url: str
) -> None:
    service_id = await published(dossier_db_url)
    today = datetime.now(VIETNAM_TZ).date()
    async with db.unit_of_work() as first:
        await submit_in(first, service_id)
        waiting = asyncio.create_task(file(db, service_id, None))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # queued on the counter's row, not handed number 2
        await first.rollback()
    second = await asyncio.wait_for(waiting, 10)
    assert second["code"] == dossier_code(INTAKE_AGENCY, today, 1)
    assert (await file(db, service_id, None))["code"] == dossier_code(INTAKE_AGENCY, today, 2)
