"""Agency systems push status records on real HTTP with real tokens: every record answered on
its own, bad ones alone rejected, duplicates and stale ones recorded but never passed on, the
accepted records of a push in ``DossierStatusesReported`` events (one per agency,
keyed by it), both formats, limits and rates."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from contracts.events.sync import DossierStatusesReported
from services.kit.tables import outbox
from tests.support.sync import H22, Sync

pytestmark = pytest.mark.integration
CODE = f"{H22}-251203-0001"


def portal(status: int, at: str, code: str = CODE, **extra: Any) -> dict[str, Any]:
    return {"dossier_code": code, "agency_code": H22, "status": status, "occurred_at": at, **extra}


async def published(s: Sync) -> list[dict[str, Any]]:
    """The records passed on, in order, each with the key of the event that carried it (every
    event checked against its contract)."""
    db = s.db()
    try:
        async with db.transaction() as uow:
            rows = (
                await uow.connection.execute(select(outbox.c.type, outbox.c.key, outbox.c.data).order_by(outbox.c.id))
            ).all()
    finally:
        await db.dispose()
    assert {r.type for r in rows} <= {DossierStatusesReported.TYPE}
    for r in rows:
        assert DossierStatusesReported.model_validate(r.data).agency_code == r.key
    return [{"_key": r.key, **record} for r in rows for record in r.data["records"]]


async def test_a_mixed_batch_is_answered_record_by_record(sync_api: Sync) -> None:
    batch = [
        portal(2, "2025-12-03T09:00:00+07:00", note="Tiếp nhận"),
        portal(4, "2025-12-03T10:00:00+07:00"),
        portal(2, "2025-12-03T09:30:00+07:00"),  # older than the record before it: stale
        {**portal(4, "2025-12-03T11:00:00+07:00"), "agency_code": "000.00.01.H29"},  # not this client's
        {"dossier_code": CODE, "agency_code": H22, "occurred_at": "2025-12-03 11:00"},  # no status, bad time
        portal(2, "2025-12-03T09:00:00+07:00", note="Tiếp nhận"),  # the first one again
    ]
    await sync_api.filed(CODE)
    async with sync_api.client() as api:
        answer = await api.post("/records", headers=sync_api.province(H22), json={"records": batch})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["outcome"] for r in body["results"]] == ["accepted", "accepted", "stale", "rejected", "rejected",
                                                       "duplicate"]  # fmt: skip
    assert body["summary"] == {"accepted": 2, "duplicate": 1, "stale": 1, "rejected": 2}
    assert body["results"][3]["errors"] == [{"field": "records.3.agency_code",
                                             "reason": f"the dossier {CODE} belongs to agency {H22}"}]  # fmt: skip
    assert {e["field"] for e in body["results"][4]["errors"]} >= {"records.4.occurred_at", "records.4.status"}
    events = await published(sync_api)
    assert [(e["_key"], e["code"], e["status"]) for e in events] == [(H22, CODE, 2), (H22, CODE, 4)]

    async with sync_api.client() as api:
        again = await api.post("/records", headers=sync_api.province(H22), json={"records": batch[:2]})
        old = await api.post("/records", headers=sync_api.province(H22),
                             json={"records": [portal(5, "2025-12-03T09:59:00+07:00")]})  # fmt: skip
        reread = await api.get(f"/batches/{body['batch_id']}", headers=sync_api.province(H22))
        other = await api.get(f"/batches/{body['batch_id']}", headers=sync_api.province(H22, client="another"))
    assert [r["outcome"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
    assert old.json()["results"][0]["outcome"] == "stale"
    assert reread.json()["results"] == body["results"] and other.status_code == 404
    assert len(await published(sync_api)) == 2  # nothing more passed on


async def test_the_provincial_format_reads_into_the_same_events(sync_api: Sync) -> None:
    dossier = {"MaHoSo": f"{H22}-251203-0007", "MaTTHC": "1.002804", "TenTTHC": "Cấp đổi giấy phép lái xe",
               "ChuHoSo": "Trần Thị Bình", "LoaiDoiTuong": 1, "MaDoiTuong": "036090001122",
               "NgayTiepNhan": "20251203083000", "NgayHenTra": "20251210170000", "TrangThaiHoSo": "2",
               "DonViXuLy": "Bộ phận một cửa", "TaiLieuNop": [], "DanhSachLePhi": []}  # fmt: skip
    progress = {"MaHoSo": f"{H22}-251203-0007", "TrangThai": "DANG_XU_LY", "ThoiDiemXuLy": "20251203140000",
                "NguoiXuLy": "Nguyễn Văn C", "NoiDungXuLy": "Chuyển phòng chuyên môn"}  # fmt: skip
    async with sync_api.client() as api:
        mapped = await api.put(f"/agencies/{H22}/status-mappings", headers=sync_api.admin(),
                               json={"mapping": {"DANG_XU_LY": 4}})  # fmt: skip
        assert mapped.status_code == 200
        refused = await api.put(f"/agencies/{H22}/status-mappings", headers=sync_api.province(H22),
                                json={"mapping": {"X": 4}})  # fmt: skip
        assert refused.status_code == 403
        first = await api.post("/compat", headers=sync_api.province(H22),
                               json={"service": "DongBoHoSoMC", "isUpdating": False, "data": [dossier]})  # fmt: skip
        second = await api.post("/compat", headers=sync_api.province(H22),
                                json={"service": "CapNhatTienDoHoSoMC", "isUpdating": True,
                                      "data": [progress, {**progress, "TrangThai": "LAM_MOI"}]})  # fmt: skip
    assert first.json()["summary"]["accepted"] == 1, first.text
    assert [r["outcome"] for r in second.json()["results"]] == ["accepted", "rejected"]
    assert "LAM_MOI" in second.json()["results"][1]["errors"][0]["reason"]
    events = await published(sync_api)
    assert [(e["status"], e["dossier"] is not None) for e in events] == [(2, True), (4, False)]
    assert events[0]["dossier"]["applicant_identifier"] == "036090001122"
    assert events[1]["occurred_at"].startswith("2025-12-03T07:00:00")  # 14:00 in Hanoi


async def test_limits_and_rights_of_a_push(sync_api: Sync) -> None:
    async with sync_api.client() as api:
        too_many = await api.post("/records", headers=sync_api.province(H22),
                                  json={"records": [portal(2, "2025-12-03T09:00:00+07:00")] * 1001})  # fmt: skip
        empty = await api.post("/records", headers=sync_api.province(H22), json={"records": []})
        unknown_service = await api.post("/compat", headers=sync_api.province(H22),
                                         json={"service": "XoaHoSo", "data": [{}]})  # fmt: skip
        no_agency = await api.post("/records", headers=sync_api.province(),
                                   json={"records": [portal(2, "2025-12-03T09:00:00+07:00")]})  # fmt: skip
        wrong_scope = await api.post("/records", headers=sync_api.province(H22, scope="dossier:read"),
                                     json={"records": [portal(2, "2025-12-03T09:00:00+07:00")]})  # fmt: skip
        no_token = await api.post("/records", json={"records": [portal(2, "2025-12-03T09:00:00+07:00")]})
        huge = await api.post("/records", headers={**sync_api.province(H22), "Content-Type": "application/json"},
                              content=b'{"records": ["' + b"x" * (5 * 1024 * 1024) + b'"]}')  # fmt: skip
    assert (too_many.status_code, empty.status_code, unknown_service.status_code) == (422, 422, 422)
    assert no_agency.status_code == 404 and wrong_scope.status_code == 403 and no_token.status_code == 401
    assert huge.status_code == 413
    assert await published(sync_api) == []


async def test_a_client_pushing_too_fast_is_told_when_to_come_back(sync_api: Sync) -> None:
    statuses = []
    async with sync_api.client() as api:
        for i in range(40):  # a burst of 30, then one a minute
            answer = await api.post("/records", headers=sync_api.province(H22, client="busy"),
                                    json={"records": [portal(2, f"2025-12-03T09:00:{i:02d}+07:00")]})  # fmt: skip
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert int(answer.headers["retry-after"]) >= 1
                assert answer.json()["type"] == "/problems/rate-limited"
        record = portal(2, "2025-12-03T09:00:00+07:00", code=f"{H22}-251203-0099")
        calm = await api.post("/records", headers=sync_api.province(H22, client="calm"), json={"records": [record]})
    assert statuses.count(200) in (30, 31) and statuses.count(429) >= 9
    assert calm.status_code == 200  # the limit is per client
