"""Dossiers filed directly at an agency arrive only through its status records and are
mirrored: the person they were filed for finds them in their own list (their token's applicant
pseudonym matches), nobody else does, and the public lookup finds them by code and verifier."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.dossier.service import tracking
from services.kit.pseudonyms import applicant_key
from tests.support.dossier import INTAKE_AGENCY, Intake, dossier_database

pytestmark = pytest.mark.integration

SECRET = "development"  # the test settings' applicant key (the development default)


def record(code: str, identifier: str, status: int = 4) -> dict:
    return {
        "record_id": f"{code}-r1",
        "code": code,
        "agency_code": INTAKE_AGENCY,
        "status": status,
        "occurred_at": datetime.now(UTC).isoformat(),
        "note": "Đang xử lý",
        "dossier": {
            "procedure_code": "1.001234",
            "procedure_name": "Đăng ký khai sinh",
            "applicant_kind": "citizen",
            "applicant_identifier": identifier,
            "applicant_name": "Trần Thị Bình",
        },
    }


async def mirror(db_url: str, data: dict) -> str:
    db = dossier_database(db_url)
    try:
        async with db.transaction() as uow:
            return await tracking.apply_status_report(uow, data, applicant_secret=SECRET)
    finally:
        await db.dispose()


async def test_the_person_a_mirrored_dossier_was_filed_for_finds_it_and_no_one_else(intake: Intake) -> None:
    assert await mirror(intake.db_url, record("H22.10-251203-0042", "001099012345")) == "mirrored"
    assert await mirror(intake.db_url, record("H22.10-251203-0043", "079188000001")) == "mirrored"
    mine = intake.citizen("citizen-1", applicant_key=applicant_key(SECRET, "001099012345"))
    other = intake.citizen("citizen-2", applicant_key=applicant_key(SECRET, "036200000009"))
    forged = intake.citizen("citizen-3", applicant_key=applicant_key("a guess", "001099012345"))
    async with intake.client() as api:
        own = await intake.submit(api, mine)
        assert own.status_code == 201
        listed = (await api.get("/dossiers", headers=mine)).json()["items"]
        assert sorted((d["code"], d["origin"]) for d in listed) == sorted(
            [(own.json()["code"], "portal"), ("H22.10-251203-0042", "mirrored")]
        )
        mirrored_id = next(d["id"] for d in listed if d["origin"] == "mirrored")
        detail = await api.get(f"/dossiers/{mirrored_id}", headers=mine)
        assert detail.status_code == 200 and detail.json()["status"] == 4
        assert (await api.get("/dossiers", headers=other)).json()["items"] == []
        assert (await api.get("/dossiers", headers=forged)).json()["items"] == []
        for stranger in (other, forged):
            assert (await api.get(f"/dossiers/{mirrored_id}", headers=stranger)).status_code == 404
        # Reading is all: the portal cannot withdraw what it did not file.
        assert (await api.post(f"/dossiers/{mirrored_id}/withdrawal", headers=mine, json={})).status_code == 404
        public = await api.get("/lookup", params={"code": "H22.10-251203-0042", "verifier": "2345"})
        assert public.status_code == 200 and public.json()["status"] == 4
