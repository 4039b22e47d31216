"""Dossier codes under concurrency: submissions racing to one agency on one day take distinct,
gap-free sequence numbers, and a transaction that rolls back gives its number back."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy import select

from contracts.events.sync import DossierStatusReported, ReportedDossier
from services.dossier.adapters import dossiers as repo
from services.dossier.adapters.tables import dossier_sequences, dossiers
from services.dossier.domain.calendar import VIETNAM_TZ
from services.dossier.domain.codes import dossier_code, parse_dossier_code
from services.dossier.service import tracking
from services.kit.db import Database
from tests.dossier.test_submission import rows
from tests.support.dossier import INTAKE_AGENCY, Intake, citizen_body

pytestmark = pytest.mark.integration

PARALLEL = 30


async def test_parallel_submissions_get_distinct_gap_free_numbers(intake: Intake) -> None:
    citizens = [intake.citizen(f"citizen-{i}") for i in range(PARALLEL)]
    limits = httpx.Limits(max_connections=PARALLEL * 2, max_keepalive_connections=PARALLEL * 2)
    async with httpx.AsyncClient(base_url=intake.url + "/api/v1/dossier", timeout=60, limits=limits) as api:
        refs = await asyncio.gather(*(intake.documents(api, headers) for headers in citizens))
        bodies = [citizen_body(intake.service_id, r) for r in refs]
        answers = await asyncio.gather(
            *(api.post("/dossiers", headers=headers, json=body) for headers, body in zip(citizens, bodies, strict=True))
        )
    assert [a.status_code for a in answers] == [201] * PARALLEL, [a.text for a in answers if a.status_code != 201]
    parsed = [parse_dossier_code(a.json()["code"]) for a in answers]
    assert {agency for agency, _, _ in parsed} == {INTAKE_AGENCY}
    days = {day for _, day, _ in parsed}
    assert len(days) == 1
    assert sorted(sequence for _, _, sequence in parsed) == list(range(1, PARALLEL + 1))

    stored = await rows(intake.db_url, select(dossiers.c.code, dossiers.c.owner))
    assert sorted(r.code for r in stored) == sorted(a.json()["code"] for a in answers)
    assert len({r.owner for r in stored}) == PARALLEL
    (counter,) = await rows(intake.db_url, select(dossier_sequences))
    assert (counter.agency_code, counter.day, counter.last_value) == (INTAKE_AGENCY, days.pop(), PARALLEL)


async def test_a_rolled_back_number_is_given_back(dossier_db: Database) -> None:
    day, other_day = date(2025, 7, 1), date(2025, 7, 2)
    async with dossier_db.unit_of_work() as first:
        assert await repo.next_sequence(first.session, INTAKE_AGENCY, day) == 1
        assert await repo.next_sequence(first.session, INTAKE_AGENCY, day) == 2
        await first.rollback()

    async with dossier_db.transaction() as uow:
        assert await repo.next_sequence(uow.session, INTAKE_AGENCY, day) == 1
    async with dossier_db.transaction() as uow:
        assert await repo.next_sequence(uow.session, INTAKE_AGENCY, day) == 2
        # Each agency and each day counts on its own.
        assert await repo.next_sequence(uow.session, "000.00.01.H26", day) == 1
        assert await repo.next_sequence(uow.session, INTAKE_AGENCY, other_day) == 1

    async with dossier_db.transaction() as uow:
        counters = list(await uow.session.execute(select(dossier_sequences)))
    assert sorted((r.agency_code, r.day, r.last_value) for r in counters) == [
        ("000.00.01.H22", day, 2),
        ("000.00.01.H22", other_day, 1),
        ("000.00.01.H26", day, 1),
    ]


async def test_a_concurrent_transaction_waits_and_takes_the_number_a_rollback_gave_back(dossier_db: Database) -> None:
    day = date(2025, 7, 1)
    taken: list[int] = []

    async def second() -> None:
        async with dossier_db.transaction() as uow:
            taken.append(await repo.next_sequence(uow.session, INTAKE_AGENCY, day))

    async with dossier_db.unit_of_work() as first:
        assert await repo.next_sequence(first.session, INTAKE_AGENCY, day) == 1
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.5)
        assert not waiting.done()  # queued on the counter's row, not handed number 2
        await first.rollback()
    await asyncio.wait_for(waiting, 10)
    assert taken == [1]

    async with dossier_db.transaction() as uow:
        assert await repo.next_sequence(uow.session, INTAKE_AGENCY, day) == 2


async def test_a_number_the_agency_already_gave_a_mirrored_dossier_is_skipped(intake: Intake) -> None:
    """A dossier filed at the agency's own desk carries a code of the same agency and day, and
    is mirrored here when its status first arrives. The portal's next submission must not take
    that code (nor fail on it for the rest of the day)."""
    today = datetime.now(VIETNAM_TZ).date()
    taken = dossier_code(INTAKE_AGENCY, today, 1)
    described = ReportedDossier(procedure_code="1.002804", applicant_kind="citizen", applicant_identifier="0360900011")
    data = DossierStatusReported(
        record_id="desk-1", code=taken, agency_code=INTAKE_AGENCY, status=2, occurred_at=datetime.now(UTC),
        dossier=described,
    ).model_dump(mode="json")  # fmt: skip
    db = Database(intake.db_url, source="dossier", topic="dossier.events")
    try:
        async with db.transaction() as uow:
            assert await tracking.apply_status_report(uow, data) == "mirrored"
    finally:
        await db.dispose()

    async with intake.client() as api:
        answers = [await intake.submit(api, intake.citizen()) for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert [a.json()["code"] for a in answers] == [dossier_code(INTAKE_AGENCY, today, n) for n in (2, 3)]
    stored = await rows(intake.db_url, select(dossiers.c.code, dossiers.c.origin).order_by(dossiers.c.code))
    assert [tuple(r) for r in stored] == [(taken, "mirrored"), (answers[0].json()["code"], "portal"),
                                          (answers[1].json()["code"], "portal")]  # fmt: skip
