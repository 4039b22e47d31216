"""Bad submissions and uploads on real HTTP: each is a clear 4xx problem naming what is wrong,
and nothing of it is written (no dossier, timeline row, sequence number, idempotency key or
event; the files named stay unbound)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.dossier.adapters.tables import attachments, dossier_history, dossier_sequences, dossiers, idempotency_keys
from services.kit.tables import outbox
from tests.dossier.test_submission import rows
from tests.support.dossier import PDF, Intake, citizen_body, dossier_settings
from tests.support.servers import serve
from tests.support.tokens import ISSUER

pytestmark = pytest.mark.integration

SMALL_FILE = 1024  # the smallest max_attachment_bytes the settings accept
FEW_FILES = 2


@pytest.fixture
async def small(intake: Intake, dossier_keys, infra, tmp_path: Path) -> AsyncIterator[Intake]:  # type: ignore[no-untyped-def]
    """A second dossier API on the same database, taking files of at most 1 KiB and two per dossier."""
    from services.dossier.app import create_app

    _, jwks_url = dossier_keys
    settings = dossier_settings(
        intake.db_url, infra.bootstrap, oidc_issuer=ISSUER, oidc_jwks_url=jwks_url, storage_dir=tmp_path / "small",
        max_attachment_bytes=SMALL_FILE, max_attachments_per_dossier=FEW_FILES,
    )  # fmt: skip
    with serve(create_app(settings)) as url:
        yield Intake(url, intake.db_url, intake.key, intake.service_id, intake.retired_service_id)


async def written(db_url: str) -> dict[str, int]:
    """How many rows a submission writes, by table; files counted as bound and unbound."""
    counts = {}
    for name, table in [("dossiers", dossiers), ("history", dossier_history), ("keys", idempotency_keys),
                        ("sequences", dossier_sequences), ("outbox", outbox)]:  # fmt: skip
        counts[name] = (await rows(db_url, select(func.count()).select_from(table)))[0][0]
    bound = attachments.c.dossier_id.is_not(None)
    for name, condition in [("bound", bound), ("unbound", ~bound)]:
        counts[name] = (await rows(db_url, select(func.count()).where(condition)))[0][0]
    return counts


def nothing(unbound: int) -> dict[str, int]:
    return {"dossiers": 0, "history": 0, "keys": 0, "sequences": 0, "outbox": 0, "bound": 0, "unbound": unbound}


def problem(answer: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    body = answer.json()
    assert body["type"] == f"/problems/{type_}" and body["status"] == status, body
    return body  # type: ignore[no-any-return]


def fields(answer: httpx.Response) -> list[str]:
    return [e["field"] for e in problem(answer, 422, "validation-failed")["errors"]]


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def keyed(intake: Intake) -> dict[str, str]:
    return {**intake.citizen(), "Idempotency-Key": f"k-{uuid.uuid4().hex}"}


async def test_invalid_form_data_names_each_field_and_does_not_use_up_the_key(intake: Intake) -> None:
    headers = keyed(intake)
    async with intake.client() as api:
        refs = await intake.documents(api, headers)
        form = {"so_gplx": "12AB", "noi_cu_tru": {"xa": 5, "thon": "Thôn 3"}, "ghi_chu": "x"}
        refused = await api.post("/dossiers", headers=headers, json=citizen_body(intake.service_id, refs, form=form))
        assert fields(refused) == ["form.ghi_chu", "form.ho_ten", "form.noi_cu_tru.thon", "form.noi_cu_tru.tinh",
                                   "form.noi_cu_tru.xa", "form.so_gplx"]  # fmt: skip
        messages = {e["field"]: e["message"] for e in refused.json()["errors"]}
        assert messages["form.ho_ten"] == "This field is required."
        assert all(e["location"] == "body" for e in refused.json()["errors"])
        assert await written(intake.db_url) == nothing(unbound=2)

        missing = {"ho_ten": "Nguyễn Văn An"}
        refused = await api.post("/dossiers", headers=headers, json=citizen_body(intake.service_id, refs, form=missing))
        assert fields(refused) == ["form.so_gplx"]
        assert await written(intake.db_url) == nothing(unbound=2)

        # The refused requests did not take the key: the corrected one is a new request.
        accepted = await api.post("/dossiers", headers=headers, json=citizen_body(intake.service_id, refs))
        assert accepted.status_code == 201, accepted.text
    assert await written(intake.db_url) == {"dossiers": 1, "history": 1, "keys": 1, "sequences": 1, "outbox": 3,
                                            "bound": 2, "unbound": 0}  # fmt: skip


async def test_a_missing_required_document_is_named_by_its_component(intake: Intake) -> None:
    headers = keyed(intake)
    async with intake.client() as api:
        tp01 = (await intake.upload(api, headers)).json()["id"]
        body = citizen_body(intake.service_id, [{"id": tp01, "component_code": "TP01"}])
        refused = await api.post("/dossiers", headers=headers, json=body)
        assert fields(refused) == ["attachments[TP02]"]
        assert "Giấy khám sức khỏe" in refused.json()["errors"][0]["message"]
        refused = await api.post("/dossiers", headers=headers, json=citizen_body(intake.service_id, []))
        assert fields(refused) == ["attachments[TP01]", "attachments[TP02]"]
    assert await written(intake.db_url) == nothing(unbound=1)


async def test_a_document_not_of_the_procedure_is_refused(intake: Intake) -> None:
    headers = keyed(intake)
    async with intake.client() as api:
        refs = await intake.documents(api, headers)
        extra = (await intake.upload(api, headers)).json()["id"]
        body = citizen_body(intake.service_id, [*refs, {"id": extra, "component_code": "TP99"}])
        assert fields(await api.post("/dossiers", headers=headers, json=body)) == ["attachments.2.component_code"]
    assert await written(intake.db_url) == nothing(unbound=3)


async def test_attachments_unknown_named_twice_or_already_used_are_refused(intake: Intake) -> None:
    headers = keyed(intake)
    async with intake.client() as api:
        refs = await intake.documents(api, headers)
        twice = [refs[0], {"id": refs[0]["id"], "component_code": "TP02"}]
        refused = await api.post("/dossiers", headers=headers, json=citizen_body(intake.service_id, twice))
        assert fields(refused) == ["attachments.1.id"]
        unknown = [refs[0], {"id": str(uuid.uuid4()), "component_code": "TP02"}]
        refused = await api.post("/dossiers", headers=headers, json=citizen_body(intake.service_id, unknown))
        assert fields(refused) == ["attachments.1.id"]
        assert await written(intake.db_url) == nothing(unbound=2)

        accepted = await api.post("/dossiers", headers=headers, json=citizen_body(intake.service_id, refs))
        assert accepted.status_code == 201
        before = await written(intake.db_url)
        again = {**intake.citizen(), "Idempotency-Key": "another-key"}
        refused = await api.post("/dossiers", headers=again, json=citizen_body(intake.service_id, refs))
        assert fields(refused) == ["attachments.0.id", "attachments.1.id"]
        assert {e["message"] for e in refused.json()["errors"]} == {"Already part of a dossier."}
    assert await written(intake.db_url) == before


async def test_a_file_is_judged_by_its_content_not_its_name_or_type(intake: Intake, tmp_path: Path) -> None:
    headers = intake.citizen()
    async with intake.client() as api:
        text = b"Day la mot tep van ban, khong phai PDF.\n" * 20
        refused = await intake.upload(api, headers, text, "x.pdf", "application/pdf")
        body = problem(refused, 415, "unsupported-file-type")
        assert "content" in body["detail"]
        html = b"<html><body>%PDF-1.7</body></html>"
        problem(await intake.upload(api, headers, html, "y.pdf", "application/pdf"), 415, "unsupported-file-type")
        problem(await intake.upload(api, headers, b"", "empty.pdf", "application/pdf"), 415, "unsupported-file-type")
    assert await written(intake.db_url) == nothing(unbound=0)
    assert stored_files(tmp_path / "files") == []


async def test_an_oversize_file_is_413_and_not_kept(small: Intake, tmp_path: Path) -> None:
    headers = small.citizen()
    async with small.client() as api:
        fits = PDF + b"\x00" * (SMALL_FILE - len(PDF))
        accepted = await small.upload(api, headers, fits)
        assert accepted.status_code == 201 and accepted.json()["size"] == SMALL_FILE
        body = problem(await small.upload(api, headers, fits + b"\x00"), 413, "payload-too-large")
        assert str(SMALL_FILE) in body["detail"]
        problem(await small.upload(api, headers, fits * 40), 413, "payload-too-large")
    assert await written(small.db_url) == nothing(unbound=1)
    assert len(stored_files(tmp_path / "small")) == 1


async def test_more_files_than_allowed_are_refused(small: Intake) -> None:
    headers = keyed(small)
    async with small.client() as api:
        refs = await small.documents(api, headers)
        extra = (await small.upload(api, headers)).json()["id"]
        body = citizen_body(small.service_id, [*refs, {"id": extra, "component_code": "TP01"}])
        refused = await api.post("/dossiers", headers=headers, json=body)
        assert fields(refused) == ["attachments"]
        assert str(FEW_FILES) in refused.json()["errors"][0]["message"]
        assert await written(small.db_url) == nothing(unbound=3)
        # The limit itself is allowed.
        accepted = await api.post("/dossiers", headers=headers, json=citizen_body(small.service_id, refs))
        assert accepted.status_code == 201, accepted.text


async def test_an_unknown_service_is_404_and_a_retired_one_409(intake: Intake) -> None:
    headers = keyed(intake)
    async with intake.client() as api:
        refs = await intake.documents(api, headers)
        unknown = await api.post("/dossiers", headers=headers, json=citizen_body(str(uuid.uuid4()), refs))
        problem(unknown, 404, "not-found")
        retired = await api.post("/dossiers", headers=headers, json=citizen_body(intake.retired_service_id, refs))
        problem(retired, 409, "service-not-offered")
        malformed = await api.post("/dossiers", headers=headers, json=citizen_body("1.002804", refs))
        assert fields(malformed) == ["body.service_id"]
    assert await written(intake.db_url) == nothing(unbound=2)


async def test_a_key_replayed_with_another_body_is_refused(intake: Intake) -> None:
    headers = keyed(intake)
    async with intake.client() as api:
        body = citizen_body(intake.service_id, await intake.documents(api, headers))
        first = await api.post("/dossiers", headers=headers, json=body)
        assert first.status_code == 201
        before = await written(intake.db_url)
        other = await api.post("/dossiers", headers=headers, json={**body, "selected_fees": ["PH02"]})
        problem(other, 422, "idempotency-key-reused")
        assert first.json()["code"] not in other.text
        fresh = await intake.submit(api, headers)  # new files: another body again
        problem(fresh, 422, "idempotency-key-reused")
        assert await written(intake.db_url) == {**before, "unbound": before["unbound"] + 2}
        # The first body again is still the first dossier.
        replayed = await api.post("/dossiers", headers=headers, json=body)
        assert replayed.status_code == 200 and replayed.json()["dossier_id"] == first.json()["dossier_id"]
    assert await written(intake.db_url) == {**before, "unbound": before["unbound"] + 2}


async def test_unknown_fields_are_refused(intake: Intake) -> None:
    headers = keyed(intake)
    async with intake.client() as api:
        refs = await intake.documents(api, headers)
        body = citizen_body(intake.service_id, [{**refs[0], "note": "x"}, refs[1]], owner="citizen-2")
        body["applicant"] = {**body["applicant"], "nickname": "An"}
        refused = await api.post("/dossiers", headers=headers, json=body)
        assert sorted(fields(refused)) == ["body.applicant.nickname", "body.attachments.0.note", "body.owner"]
        withdrawal = await api.post(f"/dossiers/{uuid.uuid4()}/withdrawal", headers=headers, json={"status": 8})
        assert fields(withdrawal) == ["body.status"]
    assert await written(intake.db_url) == nothing(unbound=2)


@pytest.mark.parametrize(
    ("applicant", "field"),
    [
        ({"identifier": "00109901234"}, "body.applicant.identifier"),  # 11 digits
        ({"identifier": "0010990123456"}, "body.applicant.identifier"),  # 13 digits
        ({"identifier": "00109901234X"}, "body.applicant.identifier"),
        ({"identifier": "0101234567-01"}, "body.applicant.identifier"),  # a branch takes three digits
        ({"kind": "person"}, "body.applicant.kind"),
        ({"name": ""}, "body.applicant.name"),
        ({"phone": "gọi tôi"}, "body.applicant.phone"),
    ],
)
async def test_a_bad_applicant_is_refused(intake: Intake, applicant: dict[str, str], field: str) -> None:
    headers = keyed(intake)
    async with intake.client() as api:
        body = citizen_body(intake.service_id, await intake.documents(api, headers))
        body["applicant"] = {**body["applicant"], **applicant}
        assert fields(await api.post("/dossiers", headers=headers, json=body)) == [field]
    assert await written(intake.db_url) == nothing(unbound=2)


async def test_an_upload_without_a_file_is_refused(intake: Intake) -> None:
    headers = intake.citizen()
    async with intake.client() as api:
        assert fields(await api.post("/attachments", headers=headers, files={"note": (None, "x")})) == ["body.file"]
        empty = await api.post(
            "/attachments", headers={**headers, "Content-Type": "multipart/form-data; boundary=b"}, content=b"--b--\r\n"
        )
        assert fields(empty) == ["body.file"]
        assert fields(await api.post("/attachments", headers=headers)) == ["body.file"]
    assert await written(intake.db_url) == nothing(unbound=0)


async def test_an_unknown_fee_is_named(intake: Intake) -> None:
    headers = keyed(intake)
    async with intake.client() as api:
        refs = await intake.documents(api, headers)
        unknown = citizen_body(intake.service_id, refs, selected_fees=["XX99"])
        assert fields(await api.post("/dossiers", headers=headers, json=unknown)) == ["selected_fees.0"]
        mixed = citizen_body(intake.service_id, refs, selected_fees=["PH02", "LP99", "PH03"])
        refused = await api.post("/dossiers", headers=headers, json=mixed)
        assert fields(refused) == ["selected_fees.1", "selected_fees.2"]
    assert await written(intake.db_url) == nothing(unbound=2)
