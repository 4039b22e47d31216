"""Bulk import over real HTTP and from the command line: upsert by code, a per-row report,
rejected rows change nothing, malformed or oversized imports are refused whole."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.catalogue.adapters.tables import online_services, procedures
from services.catalogue.domain.definitions import service_id
from services.catalogue.service.importer import MAX_IMPORT_ROWS
from services.kit.db import Database
from services.kit.tables import outbox
from tests.support.catalogue import Editing

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FORM = {"type": "object", "properties": {"ho_ten": {"type": "string"}}, "required": ["ho_ten"]}
FEE = {"code": "LP01", "name": "Lệ phí", "amount": 50_000}


def procedure(code: str, name: str, **changes: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "sector_code": "HT",
        "level": "commune",
        "processing_days": 3,
        "documents": [{"code": "TP01", "name": "Tờ khai", "copies": 1}],
        "fees": [FEE],
        **changes,
    }


def service(procedure_code: str, agency_code: str, **changes: Any) -> dict[str, Any]:
    return {
        "procedure_code": procedure_code,
        "agency_code": agency_code,
        "online_level": "full",
        "form_schema": FORM,
        "fees": [FEE],
        "processing_days": 3,
        "routing_target": f"motcua:{agency_code}",
        **changes,
    }


DATASET = {
    "agencies": [
        {
            "code": "000.02.01.H22",
            "name": "UBND phường Bãi Cháy",
            "level": "commune",
            "parent_code": "000.00.00.H22",
            "province_code": "H22",
        },
    ],
    "procedures": [
        procedure("1.900001", "Đăng ký giám hộ"),
        procedure("1.900002", "Đăng ký nhận cha, mẹ, con"),
        procedure("1.900003", "Thủ tục không hợp lệ", level="district"),  # no district level since 2025
    ],
    "services": [
        service("1.900001", "000.02.01.H22"),  # an agency created by this very import
        service("1.900002", "000.01.01.H22"),
        service("1.900003", "000.01.01.H22"),  # its procedure was rejected
        service("1.900001", "000.99.99.H99"),  # no such agency
        service("1.900001", "000.01.01.H29", form_schema={"type": "object", "properties": {"a": {"type": 1}}}),
    ],
}


async def scalar(db_url: str, query: Any) -> Any:
    db = Database(db_url, source="catalogue", topic="catalogue.events")
    try:
        async with db.transaction() as uow:
            return await uow.connection.scalar(query)
    finally:
        await db.dispose()


async def outbox_size(db_url: str) -> int:
    return int(await scalar(db_url, select(func.count()).select_from(outbox)))


@pytest.fixture
async def api(editing: Editing) -> Any:
    async with httpx.AsyncClient(base_url=editing.url, timeout=60) as client:
        yield client


def outcomes(report: dict[str, Any]) -> list[tuple[str, int, str]]:
    return [(r["kind"], r["row"], r["outcome"]) for r in report["rows"]]


async def test_a_json_import_reports_every_row_and_applies_only_the_good_ones(
    api: httpx.AsyncClient, editing: Editing
) -> None:
    answer = await api.post("/imports", json=DATASET, headers=editing.headers())
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert outcomes(report) == [
        ("agencies", 1, "created"),
        ("procedures", 1, "created"),
        ("procedures", 2, "created"),
        ("procedures", 3, "rejected"),
        ("services", 1, "created"),
        ("services", 2, "created"),
        ("services", 3, "rejected"),
        ("services", 4, "rejected"),
        ("services", 5, "rejected"),
    ]
    assert report["summary"] == {"created": 5, "updated": 0, "unchanged": 0, "rejected": 4}
    rejected = {(r["kind"], r["row"]): r for r in report["rows"] if r["outcome"] == "rejected"}
    assert rejected[("procedures", 3)]["errors"][0]["field"] == "level"
    assert "No active procedure 1.900003" in rejected[("services", 3)]["errors"][0]["message"]
    assert rejected[("services", 4)]["errors"][0] == {"field": "agency_code", "message": "No agency 000.99.99.H99."}
    assert rejected[("services", 5)]["errors"][0]["field"] == "form_schema"
    assert rejected[("services", 5)]["key"] == "1.900001@000.01.01.H29"
    # What was rejected left nothing behind; what was accepted is searchable.
    assert await scalar(editing.db_url, select(procedures.c.code).where(procedures.c.code == "1.900003")) is None
    bad = service_id("1.900001", "000.01.01.H29")
    assert await scalar(editing.db_url, select(online_services.c.id).where(online_services.c.id == bad)) is None
    found = (await api.get("/services", params={"q": "dang ky giam ho"})).json()["items"]
    assert [i["agency_code"] for i in found] == ["000.02.01.H22"]


async def test_importing_the_same_dataset_again_changes_nothing_and_publishes_nothing(
    api: httpx.AsyncClient, editing: Editing
) -> None:
    await api.post("/imports", json=DATASET, headers=editing.headers())
    events_before = await outbox_size(editing.db_url)
    again = (await api.post("/imports", json=DATASET, headers=editing.headers())).json()
    assert again["summary"] == {"created": 0, "updated": 0, "unchanged": 5, "rejected": 4}
    assert await outbox_size(editing.db_url) == events_before
    changed = {"services": [service("1.900002", "000.01.01.H22", processing_days=2)]}
    updated = (await api.post("/imports", json=changed, headers=editing.headers())).json()
    assert outcomes(updated) == [("services", 1, "updated")]
    sid = service_id("1.900002", "000.01.01.H22")
    detail = (await api.get(f"/services/{sid}")).json()
    assert (detail["version"], detail["processing_days"]) == (2, 2)


async def test_a_dry_run_reports_the_same_and_writes_nothing(api: httpx.AsyncClient, editing: Editing) -> None:
    events_before = await outbox_size(editing.db_url)
    report = (await api.post("/imports", params={"dry_run": "true"}, json=DATASET, headers=editing.headers())).json()
    assert report["dry_run"] is True
    assert report["summary"] == {"created": 5, "updated": 0, "unchanged": 0, "rejected": 4}
    assert await outbox_size(editing.db_url) == events_before
    assert await scalar(editing.db_url, select(procedures.c.code).where(procedures.c.code == "1.900001")) is None


def as_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
                         for k, v in row.items()})  # fmt: skip
    return out.getvalue()


async def test_a_csv_import_reads_json_cells_and_retires_by_status(api: httpx.AsyncClient, editing: Editing) -> None:
    columns = ["code", "name", "sector_code", "level", "processing_days", "documents", "fees", "status"]
    body = as_csv(
        [procedure("1.900010", "Cấp bản sao trích lục hộ tịch"), procedure("1.004873", "Xác nhận", status="retired")],
        columns,
    )
    headers = {**editing.headers(), "Content-Type": "text/csv; charset=utf-8"}
    report = (await api.post("/imports", params={"kind": "procedures"}, content=body.encode(), headers=headers)).json()
    assert outcomes(report) == [("procedures", 1, "created"), ("procedures", 2, "updated")]
    assert (await api.get("/procedures/1.004873")).json()["status"] == "retired"
    broken = "code,name,sector_code,level,processing_days,documents\n1.900011,Tên,HT,commune,3,[not json\n"
    report = (await api.post("/imports", params={"kind": "procedures"}, content=broken, headers=headers)).json()
    assert report["rows"][0]["errors"] == [{"field": "row", "message": "Column documents must hold JSON."}]


async def test_a_csv_without_kind_is_the_kind_its_header_names_and_an_empty_one_holds_nothing(
    api: httpx.AsyncClient, editing: Editing
) -> None:
    headers = {**editing.headers(), "Content-Type": "text/csv"}
    columns = ["code", "name", "sector_code", "level", "processing_days", "documents", "fees"]
    body = as_csv([procedure("1.900012", "Cấp bản sao giấy khai sinh")], columns).encode()
    inferred = await api.post("/imports", params={"dry_run": "true"}, content=body, headers=headers)
    assert inferred.status_code == 200, inferred.text
    assert outcomes(inferred.json()) == [("procedures", 1, "created")]
    # Columns of agencies and procedures both: the first kind having them all (agencies).
    agencies = await api.post("/imports", params={"dry_run": "true"}, content=b"code,name\n000.09.01.H22,x\n",
                              headers=headers)  # fmt: skip
    assert [row["kind"] for row in agencies.json()["rows"]] == ["agencies"]
    for params in ({}, {"kind": "services"}):
        empty = await api.post("/imports", params=params, content=b"", headers=headers)
        assert empty.status_code == 200, empty.text
        assert empty.json() == {"dry_run": False, "rows": [],
                                "summary": {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}}  # fmt: skip


@pytest.mark.parametrize(
    ("content", "content_type", "params", "status", "says"),
    [
        (b"{not json", "application/json", {}, 400, "not JSON"),
        (b'{"services": {}}', "application/json", {}, 422, "Must be a list"),
        (b'{"forms": []}', "application/json", {}, 422, "Not a kind of row"),
        (b"code,name,colour\n1.1,a,b\n", "text/csv", {"kind": "procedures"}, 422, "Not a column of procedures"),
        (b"code,name,routing_target\n1.1,a,b\n", "text/csv", {}, 422, "say which with kind"),
        (b"<xml/>", "application/xml", {}, 415, "application/json or text/csv"),
        (b"\xff\xfe", "text/csv", {"kind": "agencies"}, 400, "UTF-8"),
    ],
)
async def test_an_import_that_cannot_be_read_is_refused_whole(
    api: httpx.AsyncClient, editing: Editing, content: bytes, content_type: str, params: dict, status: int, says: str
) -> None:
    events_before = await outbox_size(editing.db_url)
    headers = {**editing.headers(), "Content-Type": content_type}
    answer = await api.post("/imports", params=params, content=content, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert says in answer.text
    assert await outbox_size(editing.db_url) == events_before


async def test_more_rows_than_the_limit_are_refused_before_anything_is_read(
    api: httpx.AsyncClient, editing: Editing
) -> None:
    rows = [{"code": f"000.03.{i:02d}.H22", "name": "x", "level": "commune"} for i in range(MAX_IMPORT_ROWS + 1)]
    answer = await api.post("/imports", json={"agencies": rows}, headers=editing.headers())
    assert answer.status_code == 413
    assert f"at most {MAX_IMPORT_ROWS} rows" in answer.json()["detail"]


async def test_an_official_imports_only_for_their_own_agency(api: httpx.AsyncClient, editing: Editing) -> None:
    dataset = {
        "procedures": [procedure("1.900020", "Thủ tục của bộ")],
        "services": [service("1.001193", "000.01.01.H48"), service("1.004873", "000.01.01.H48")],
    }
    report = (await api.post("/imports", json=dataset, headers=editing.official("000.01.01.H29"))).json()
    assert [r["outcome"] for r in report["rows"]] == ["rejected", "rejected", "rejected"]
    own = {"services": [service("1.004873", "000.01.01.H48")]}
    report = (await api.post("/imports", json=own, headers=editing.official("000.01.01.H48"))).json()
    assert [r["outcome"] for r in report["rows"]] == ["updated"]


def test_the_command_line_imports_a_file_in_batches_and_reports(editing: Editing, tmp_path: Path) -> None:
    source = tmp_path / "services.json"
    source.write_text(json.dumps({"services": [service("1.001193", a) for a in ("000.02.02.H22", "000.01.01.H48")]}))
    report_path = tmp_path / "report.json"
    env = {**os.environ, "CATALOGUE_DATABASE_URL": editing.db_url, "PORTAL_ENVIRONMENT": "test",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "services.catalogue", "import", str(source), "--batch-size", "1",
         "--report", str(report_path), "--actor", "tester"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # The first row names an agency that does not exist; the second is new: exit 1 for the rejection.
    assert done.returncode == 1, done.stderr
    report = json.loads(report_path.read_text())
    assert [r["outcome"] for r in report["rows"]] == ["rejected", "created"]
    assert "services row 1 (1.001193@000.02.02.H22): agency_code: No agency 000.02.02.H22." in done.stderr
    unreadable = tmp_path / "x.txt"
    unreadable.write_text("?")
    refused = subprocess.run([sys.executable, "-m", "services.catalogue", "import", str(unreadable)],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert refused.returncode == 2 and ".json or .csv" in refused.stderr
