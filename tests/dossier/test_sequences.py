"""Dossier codes under concurrency: submissions racing to one agency on one day take distinct,
gap-free sequence numbers, and a number the agency gave a mirrored dossier is skipped (a
rolled-back submission giving its number back: ``test_filing_statement``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from contracts.events.sync import DossierStatusReported, ReportedDossier
from services.dossier.adapters.tables import dossier_sequences, dossiers
from services.dossier.domain.codes import dossier_code, parse_dossier_code
from services.dossier.service import tracking
from services.kit.calendar import VIETNAM_TZ
from tests.dossier.test_submission import rows
from tests.support.dossier import INTAKE_AGENCY, Intake, citizen_body, dossier_database

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
    db = dossier_database(intake.db_url)
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
