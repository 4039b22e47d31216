"""Submitting a dossier on real HTTP with real tokens: the receipt (code, receipt time,
appointment, fees, QR), its events in the outbox, idempotency, drafts."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from contracts.registry import EVENT_TYPES
from services.dossier.adapters.tables import attachments, dossiers
from services.dossier.domain.codes import parse_dossier_code
from services.kit.tables import outbox
from tests.support.dossier import INTAKE_AGENCY, Intake, citizen_body, dossier_database

pytestmark = pytest.mark.integration


async def rows(db_url: str, query: Any) -> list[Any]:
    db = dossier_database(db_url)
    try:
        async with db.transaction() as uow:
            return list(await uow.connection.execute(query))
    finally:
        await db.dispose()


async def events(db_url: str, type_: str) -> list[dict[str, Any]]:
    found = await rows(db_url, select(outbox.c.data, outbox.c.key).where(outbox.c.type == type_).order_by(outbox.c.id))
    return [{**r.data, "_key": r.key} for r in found]


async def test_a_complete_dossier_gets_a_code_an_appointment_fees_and_a_qr_receipt(intake: Intake) -> None:
    citizen = intake.citizen()
    async with intake.client() as api:
        answer = await intake.submit(api, citizen)
        assert answer.status_code == 201, answer.text
        receipt = answer.json()
        agency, day, sequence = parse_dossier_code(receipt["code"])
        assert (agency, sequence) == (INTAKE_AGENCY, 1)
        assert receipt["status"] == 1 and receipt["status_label"] == "Mới đăng ký"
        assert date.fromisoformat(receipt["appointment_date"]) > day
        assert receipt["fees"] == [{"code": "LP01", "name": "Lệ phí cấp đổi", "amount": 135_000}]
        assert receipt["fee_total"] == 135_000
        assert sorted(d["component_code"] for d in receipt["documents"]) == ["TP01", "TP02"]
        qr = json.loads(receipt["qr_text"])
        assert qr["ma_ho_so"] == receipt["code"] and qr["ma_tthc"] == "1.002804"
        assert qr["ma_dinh_danh"] == "001099012345" and len(qr["thoi_gian"]) == 14
        assert answer.headers["location"].endswith(receipt["dossier_id"])

        png = await api.get(f"/dossiers/{receipt['dossier_id']}/receipt.png", headers=citizen)
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG\r\n\x1a\n")
        again = await api.get(f"/dossiers/{receipt['dossier_id']}/receipt", headers=citizen)
        assert again.json() == receipt

    submitted = await events(intake.db_url, "dossier.dossier.submitted.v1")
    assessed = await events(intake.db_url, "dossier.fees.assessed.v1")
    changed = await events(intake.db_url, "dossier.dossier.status_changed.v1")
    assert [e["code"] for e in submitted] == [receipt["code"]]
    assert submitted[0]["_key"] == receipt["dossier_id"] and len(submitted[0]["attachments"]) == 2
    assert assessed[0]["total"] == 135_000 and assessed[0]["owner"] == "citizen-1"
    assert changed[0]["status"] == 1 and changed[0]["previous"] is None
    for type_, found in [("dossier.dossier.submitted.v1", submitted), ("dossier.fees.assessed.v1", assessed),
                         ("dossier.dossier.status_changed.v1", changed)]:  # fmt: skip
        EVENT_TYPES[type_].model_validate({k: v for k, v in found[0].items() if k != "_key"})


async def test_a_conditional_fee_is_due_when_the_applicant_selects_it(intake: Intake) -> None:
    async with intake.client() as api:
        answer = await intake.submit(api, intake.citizen(), selected_fees=["PH02"])
    assert answer.status_code == 201, answer.text
    assert [line["code"] for line in answer.json()["fees"]] == ["LP01", "PH02"]
    assert answer.json()["fee_total"] == 160_000


async def test_a_retried_submission_with_its_key_returns_the_same_dossier(intake: Intake) -> None:
    citizen = {**intake.citizen(), "Idempotency-Key": "nop-ho-so-0001"}
    async with intake.client() as api:
        body = citizen_body(intake.service_id, await intake.documents(api, citizen))
        first = await api.post("/dossiers", headers=citizen, json=body)
        second = await api.post("/dossiers", headers=citizen, json=body)
        assert (first.status_code, second.status_code) == (201, 200)
        assert second.headers["idempotent-replayed"] == "true"
        assert second.json()["code"] == first.json()["code"]
        other = await api.post("/dossiers", headers=citizen, json={**body, "selected_fees": ["PH02"]})
        assert other.status_code == 422 and other.json()["type"] == "/problems/idempotency-key-reused"
    assert len(await rows(intake.db_url, select(dossiers.c.id))) == 1


async def test_the_same_key_of_another_account_is_another_request(intake: Intake) -> None:
    async with intake.client() as api:
        for sub in ("citizen-1", "citizen-2"):
            headers = {**intake.citizen(sub), "Idempotency-Key": "k-1"}
            answer = await intake.submit(api, headers)
            assert answer.status_code == 201, answer.text
    assert len(await rows(intake.db_url, select(dossiers.c.id))) == 2


async def test_a_draft_is_saved_resumed_and_gone_once_submitted(intake: Intake) -> None:
    citizen = intake.citizen()
    async with intake.client() as api:
        draft = await api.post("/drafts", headers=citizen, json={"service_id": intake.service_id,
                                                                 "content": {"form": {"ho_ten": "An"}}})  # fmt: skip
        assert draft.status_code == 201
        draft_id = draft.json()["id"]
        replacement = {"service_id": intake.service_id, "content": {"form": {"ho_ten": "Bình"}}}
        changed = await api.put(f"/drafts/{draft_id}", headers=citizen, json=replacement)
        assert changed.status_code == 200
        resumed = await api.get(f"/drafts/{draft_id}", headers=citizen)
        assert resumed.json()["content"] == {"form": {"ho_ten": "Bình"}}
        assert (await api.get(f"/drafts/{draft_id}", headers=intake.citizen("citizen-2"))).status_code == 404
        answer = await intake.submit(api, citizen, draft_id=draft_id)
        assert answer.status_code == 201, answer.text
        assert (await api.get(f"/drafts/{draft_id}", headers=citizen)).status_code == 404


async def test_files_are_typed_by_content_and_hashed(intake: Intake) -> None:
    import hashlib

    from tests.support.dossier import PNG

    async with intake.client() as api:
        answer = await intake.upload(api, intake.citizen(), PNG, "anh.pdf", "application/pdf")
    assert answer.status_code == 201
    assert answer.json()["content_type"] == "image/png"
    assert answer.json()["sha256"] == hashlib.sha256(PNG).hexdigest()
    count = await rows(intake.db_url, select(func.count()).select_from(attachments))
    assert count[0][0] == 1


def multipart(intake: Intake, files: list[tuple[str, bytes]], components: list[str]) -> dict[str, Any]:
    body = citizen_body(intake.service_id, [])
    return {
        "data": {"dossier": json.dumps(body, ensure_ascii=False), "components": components},
        "files": [("files", (name, content)) for name, content in files],
    }


async def test_files_can_come_with_the_submission_in_one_request_and_a_retry_is_recognised(intake: Intake) -> None:
    from tests.support.dossier import PDF, PNG

    headers = {**intake.citizen(), "Idempotency-Key": "with-files-1"}
    request = multipart(intake, [("don.pdf", PDF), ("kham.png", PNG)], ["TP01", "TP02"])
    async with intake.client() as api:
        first = await api.post("/dossiers/with-files", headers=headers, **request)
        assert first.status_code == 201, first.text
        assert sorted((d["component_code"], d["content_type"]) for d in first.json()["documents"]) == [
            ("TP01", "application/pdf"), ("TP02", "image/png")
        ]  # fmt: skip
        again = await api.post("/dossiers/with-files", headers=headers, **request)
        assert again.status_code == 200 and again.json()["code"] == first.json()["code"]
        changed = multipart(intake, [("don.pdf", PDF), ("kham.png", PDF)], ["TP01", "TP02"])
        refused = await api.post("/dossiers/with-files", headers=headers, **changed)
        assert refused.status_code == 422 and refused.json()["type"] == "/problems/idempotency-key-reused"
    assert len(await rows(intake.db_url, select(attachments.c.id))) == 2  # the retry stored nothing


async def test_a_bad_file_in_a_multipart_submission_writes_nothing(intake: Intake) -> None:
    from tests.support.dossier import PDF

    request = multipart(intake, [("don.pdf", PDF), ("kham.pdf", b"just text, not a PDF")], ["TP01", "TP02"])
    async with intake.client() as api:
        answer = await api.post("/dossiers/with-files", headers=intake.citizen(), **request)
        assert answer.status_code == 415 and answer.json()["type"] == "/problems/unsupported-file-type"
        mismatched = multipart(intake, [("don.pdf", PDF)], ["TP01", "TP02"])
        answer = await api.post("/dossiers/with-files", headers=intake.citizen(), **mismatched)
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "components"
        broken = {"data": {"dossier": "{not json", "components": ["TP01"]}, "files": [("files", ("a.pdf", PDF))]}
        answer = await api.post("/dossiers/with-files", headers=intake.citizen(), **broken)
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"].startswith("dossier")
    assert await rows(intake.db_url, select(attachments.c.id)) == []
    assert await rows(intake.db_url, select(dossiers.c.id)) == []
