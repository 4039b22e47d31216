"""Issue 17, section 1: a record is answered as the dossier service will judge it. The
dossier's agency comes from authoritative facts (the agency recorded for a dossier the portal
knows, else the Decree 61 prefix of its code), never only from the optional ``MaDonVi`` /
``agency_code``; what one agency pushes never makes another's record stale or duplicate; times
beyond the clock-skew tolerance are rejected; and every refusal reason of the dossier service
is answered ``rejected`` (``stale`` for a stale record), never ``accepted``."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.events.dossier import StatusChanged
from services.dossier.service import tracking
from services.dossier.service.tracking import AGENCY_REFUSALS
from services.kit.db import Database
from services.sync.domain.records import parse_compat_record
from tests.support.sync import H22, Sync

pytestmark = pytest.mark.integration

H79 = "000.00.02.H79"
CODE = f"{H79}-251203-0001"
STATUS_CHANGED = StatusChanged.TYPE


def progress(code: str, status: int | str, at: str, **extra: Any) -> dict[str, Any]:
    return {"MaHoSo": code, "TrangThai": str(status), "ThoiDiemXuLy": at, "NguoiXuLy": "Cán bộ", **extra}


def dossier_sync(code: str, status: int | str, **extra: Any) -> dict[str, Any]:
    return {"MaHoSo": code, "MaTTHC": "1.002804", "TenTTHC": "Cấp đổi giấy phép lái xe", "ChuHoSo": "Nguyễn Văn An",
            "LoaiDoiTuong": 1, "MaDoiTuong": "001099012345", "NgayTiepNhan": "20251203090000",
            "TrangThaiHoSo": str(status), **extra}  # fmt: skip


async def compat(s: Sync, agency: str, service: str, *records: dict[str, Any], client: str = "") -> list[dict]:
    async with s.client() as api:
        answer = await api.post("/compat", headers=s.province(agency, client=client or f"province-{agency}"),
                                json={"service": service, "isUpdating": True, "data": list(records)})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()["results"]


async def test_a_record_for_another_agency_s_dossier_is_rejected_and_never_shadows_it(sync_api: Sync) -> None:
    await sync_api.filed(CODE, agency=H79)
    unknown = f"{H79}-251203-0002"  # not on the portal: its code still names its agency
    # The issue's push: H22's client, no MaDonVi, an end date in 2099.
    hostile = await compat(sync_api, H22, "DongBoHoSoMC",
                           dossier_sync(CODE, 10, NgayTra="20991231235959", NgayKetThucXuLy="20991231235959"),
                           dossier_sync(unknown, 10, NgayTra="20991231235959"),
                           dossier_sync(CODE, 4, NgayKetThucXuLy="20251204090000"))  # fmt: skip
    assert [r["outcome"] for r in hostile] == ["rejected"] * 3
    reason = f"a dossier of agency {H79}, not an agency this client may push for"
    assert {"field": "data.0.MaHoSo", "reason": reason} in hostile[0]["errors"]
    assert {e["field"] for e in hostile[0]["errors"]} >= {"data.0.NgayTra", "data.0.NgayKetThucXuLy"}
    assert {"field": "data.1.MaHoSo", "reason": reason} in hostile[1]["errors"]
    assert hostile[2]["errors"] == [{"field": "data.2.MaHoSo", "reason": reason}]
    # Naming H22 as MaDonVi, or in the portal format, changes nothing.
    named = await compat(sync_api, H22, "CapNhatTienDoHoSoMC", progress(CODE, 2, "20251203100000", MaDonVi=H22))
    assert named[0]["errors"] == [{"field": "data.0.MaDonVi", "reason": f"the dossier {CODE} belongs to agency {H79}"}]
    async with sync_api.client() as api:
        portal = await api.post(
            "/records",
            headers=sync_api.province(H22),
            json={
                "records": [
                    {"dossier_code": CODE, "agency_code": H22, "status": 2, "occurred_at": "2025-12-03T10:00:00+07:00"}
                ]
            },
        )
    assert portal.json()["results"][0]["outcome"] == "rejected"
    # The real agency's later, correct update is applied, and its own progress is its own.
    real = await compat(sync_api, H79, "CapNhatTienDoHoSoMC", progress(CODE, 2, "20251203100000"),
                        progress(CODE, 4, "20251203110000"))  # fmt: skip
    assert [r["outcome"] for r in real] == ["accepted", "accepted"]


async def test_the_recorded_agency_of_a_known_dossier_decides_over_its_code(sync_api: Sync) -> None:
    code = f"{H22}-251203-0005"  # numbered like H22's, recorded for H79 by the portal
    await sync_api.filed(code, agency=H79)
    ours = await compat(sync_api, H22, "CapNhatTienDoHoSoMC", progress(code, 2, "20251203100000"))
    theirs = await compat(sync_api, H79, "CapNhatTienDoHoSoMC", progress(code, 2, "20251203100000"))
    assert ours[0]["outcome"] == "rejected" and ours[0]["errors"][0]["field"] == "data.0.MaHoSo"
    assert theirs[0]["outcome"] == "accepted"


async def test_a_time_beyond_the_clock_skew_is_rejected_in_every_field_that_orders_records(sync_api: Sync) -> None:
    await sync_api.filed(CODE, agency=H79)
    far = "20991231000000"
    answers = await compat(sync_api, H79, "DongBoHoSoMC", dossier_sync(CODE, 4, NgayTiepNhan=far),
                           dossier_sync(CODE, 9, NgayKetThucXuLy=far), dossier_sync(CODE, 10, NgayTra=far))  # fmt: skip
    answers += await compat(sync_api, H79, "CapNhatTienDoHoSoMC", progress(CODE, 2, far))
    fields = [[e["field"] for e in r["errors"]] for r in answers]
    assert fields == [["data.0.NgayTiepNhan"], ["data.1.NgayKetThucXuLy"], ["data.2.NgayTra"], ["data.0.ThoiDiemXuLy"]]
    async with sync_api.client() as api:
        portal = await api.post("/records", headers=sync_api.province(H79), json={"records": [
            {"dossier_code": CODE, "agency_code": H79, "status": 2, "occurred_at": "2099-01-01T00:00:00Z"},
            {"dossier_code": CODE, "agency_code": H79, "status": 2, "occurred_at": "2025-12-03T10:00:00+07:00",
             "finished_at": "2099-01-01T00:00:00Z"}]})  # fmt: skip
    assert [[e["field"] for e in r["errors"]] for r in portal.json()["results"]] == [
        ["records.0.occurred_at"],
        ["records.1.finished_at"],
    ]


# Each refusal reason of the dossier service (services/dossier/service/tracking.py) and a record
# that meets it, for a dossier of H79 filed at 2025-12-03 09:00 in Hanoi (status 1).
def _scenarios() -> dict[str, tuple[str, dict[str, Any], str, str]]:
    return {  # reason: (service, record, the answer, the field)
        "unknown-dossier": ("CapNhatTienDoHoSoMC", progress(f"{H79}-251203-0999", 2, "20251203100000"),
                            "rejected", "data.0.MaHoSo"),
        "code-conflict": ("DongBoHoSoMC", dossier_sync(CODE, 2, MaDoiTuong="079088001234"), "rejected",
                          "data.0.MaDoiTuong"),
        "wrong-agency": ("CapNhatTienDoHoSoMC", progress(CODE, 2, "20251203100000", MaDonVi=H22), "rejected",
                         "data.0.MaDonVi"),
        "stale": ("CapNhatTienDoHoSoMC", progress(CODE, 2, "20251203080000"), "stale", ""),
        "not-allowed": ("CapNhatTienDoHoSoMC", progress(CODE, 10, "20251203100000"), "rejected", "data.0.TrangThai"),
    }  # fmt: skip


async def test_every_refusal_the_dossier_service_knows_is_never_answered_accepted(
    sync_api: Sync, dossier_db: Database
) -> None:
    scenarios = _scenarios()
    assert set(scenarios) == set(AGENCY_REFUSALS)  # a new refusal reason needs its case here
    await sync_api.filed(CODE, agency=H79, received_at="2025-12-03T02:00:00+00:00")
    for reason, (service, record, answer, field) in scenarios.items():
        [result] = await compat(sync_api, H79, service, record, client=f"c-{reason}")
        assert result["outcome"] == answer, (reason, result)
        if field:
            assert [e["field"] for e in result["errors"]] == [field], (reason, result)

    # Each case is what it says: the dossier service, given the record as read without sync's
    # judgement, refuses it for that very reason (its dossier as sync knows it: H79's, status 1).
    def unjudged(service: str, record: dict[str, Any]) -> dict[str, Any]:
        agencies = frozenset({record.get("MaDonVi", H79)})  # the agency it names, else the dossier's
        read = parse_compat_record(record, service=service, prefix="data.0", agencies=agencies,
                                   mapping=lambda agency, value: None, owner=lambda code: None)  # fmt: skip
        return read.event_data()

    async with dossier_db.transaction() as uow:
        described = unjudged("DongBoHoSoMC", dossier_sync(CODE, 1, MaDonVi=H79))
        assert await tracking.apply_status_reports(uow, [described]) == ["mirrored"]
    for reason, (service, record, _, _) in scenarios.items():
        async with dossier_db.transaction() as uow:
            assert await tracking.apply_status_reports(uow, [unjudged(service, record)]) == [reason]
    # The dossier stands where it was: a record of its own status is a progress note, accepted.
    [note] = await compat(sync_api, H79, "CapNhatTienDoHoSoMC", progress(CODE, 1, "20251203100000"))
    assert note["outcome"] == "accepted"


async def test_what_the_owner_does_on_the_portal_is_what_the_agency_s_record_is_judged_by(sync_api: Sync) -> None:
    filed = await sync_api.filed(CODE, agency=H79)
    [accepted] = await compat(sync_api, H79, "CapNhatTienDoHoSoMC", progress(CODE, 4, "20251203100000"))
    assert accepted["outcome"] == "rejected"  # 1 -> 4 is not a change the table allows
    ok = await compat(sync_api, H79, "CapNhatTienDoHoSoMC", progress(CODE, 2, "20251203100000"),
                      progress(CODE, 4, "20251203110000"))  # fmt: skip
    assert [r["outcome"] for r in ok] == ["accepted", "accepted"]
    # The filing's own first status, however late it comes, does not move the dossier back.
    await sync_api.consume(STATUS_CHANGED, {
        "dossier_id": filed["dossier_id"], "code": CODE, "agency_code": H79, "origin": "portal", "previous": None,
        "status": 1, "source": "portal", "occurred_at": "2025-12-03T02:00:00+00:00"})  # fmt: skip
    # The citizen asks to withdraw at 12:00 (the dossier service says so on dossier.events).
    await sync_api.consume(STATUS_CHANGED, {
        "dossier_id": filed["dossier_id"], "code": CODE, "agency_code": H79, "origin": "portal", "previous": 4,
        "status": 7, "source": "owner", "occurred_at": "2025-12-03T05:00:00+00:00"})  # fmt: skip
    answers = await compat(sync_api, H79, "CapNhatTienDoHoSoMC", progress(CODE, 9, "20251203113000"),
                           progress(CODE, 9, "20251203130000"), progress(CODE, 8, "20251203130000"))  # fmt: skip
    assert [r["outcome"] for r in answers] == ["stale", "rejected", "accepted"]
    assert answers[1]["errors"][0]["reason"] == "a dossier in status 7 cannot move to status 9"
    # The echo of an agency's own change does not move what sync already knows back.
    await sync_api.consume(STATUS_CHANGED, {
        "dossier_id": filed["dossier_id"], "code": CODE, "agency_code": H79, "origin": "portal", "previous": 7,
        "status": 4, "source": "agency", "occurred_at": "2025-12-03T04:00:00+00:00"})  # fmt: skip
    [after] = await compat(sync_api, H79, "CapNhatTienDoHoSoMC", progress(CODE, 4, "20251203140000"))
    assert after["outcome"] == "rejected"  # still stopped (8), as the dossier service has it


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/compat", {"service": "CapNhatTienDoHoSoMC", "isUpdating": 0, "data": [{}]}),
        ("/compat", {"service": "CapNhatTienDoHoSoMC", "isUpdating": "yes", "data": [{}]}),
        ("/compat", {"service": "CapNhatTienDoHoSoMC", "isUpdating": "true", "data": [{}]}),
        ("/feed/ack", {"delivery_ids": ["1"]}),
        ("/feed/ack", {"delivery_ids": [1.5]}),
        ("/feed/ack", {"delivery_ids": [True]}),
    ],
)
async def test_machine_bodies_have_exact_types(sync_api: Sync, path: str, body: dict[str, Any]) -> None:
    async with sync_api.client() as api:
        answer = await api.post(path, headers=sync_api.province(H22), json=body)
        mapping = await api.put(f"/agencies/{H22}/status-mappings", headers=sync_api.admin(),
                                json={"mapping": {"DANG_XU_LY": "4"}})  # fmt: skip
        endpoint = await api.put(f"/agencies/{H22}/endpoint", headers=sync_api.admin(),
                                 json={"mode": "pull", "secrets": [], "format": 1})  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert mapping.status_code == 422 and endpoint.status_code == 422


async def test_a_whole_number_is_an_integer_as_the_document_says(sync_api: Sync) -> None:
    # JSON Schema counts 4.0 as an integer, and the document says "integer": the server agrees.
    async with sync_api.client() as api:
        acked = await api.post("/feed/ack", headers=sync_api.province(H22), json={"delivery_ids": [8626.0, 7]})
        mapping = await api.put(f"/agencies/{H22}/status-mappings", headers=sync_api.admin(),
                                json={"mapping": {"DANG_XU_LY": 4.0, "DA_TRA": 10}})  # fmt: skip
        half = await api.put(f"/agencies/{H22}/status-mappings", headers=sync_api.admin(),
                             json={"mapping": {"DANG_XU_LY": 4.5}})  # fmt: skip
    assert acked.status_code == 200 and acked.json() == {"acknowledged": []}  # none of them pending
    assert mapping.status_code == 200, mapping.text
    assert mapping.json()["mapping"] == {"DANG_XU_LY": 4, "DA_TRA": 10}
    assert half.status_code == 422 and half.json()["errors"][0]["field"] == "body.mapping.DANG_XU_LY"


async def test_a_push_endpoint_needs_a_public_url_named_by_its_host_and_a_secret(sync_api: Sync) -> None:
    secret = "agency-h22-shared-secret-0123456789abcdef"
    path = f"/agencies/{H22}/endpoint"
    named_url, address_url = "https://motcua.example.vn/in", "https://203.113.131.1/in"
    async with sync_api.client() as api:
        bare = await api.put(path, headers=sync_api.admin(), json={"mode": "push"})
        unsigned = await api.put(path, headers=sync_api.admin(), json={"mode": "push", "url": named_url})
        address = await api.put(path, headers=sync_api.admin(),
                                json={"mode": "push", "url": address_url, "secrets": [secret]})  # fmt: skip
        named = await api.put(path, headers=sync_api.admin(),
                              json={"mode": "push", "url": named_url, "secrets": [secret]})  # fmt: skip
        await api.put(path, headers=sync_api.admin(), json={"mode": "pull"})
    refused = (bare, unsigned, address)
    assert [a.status_code for a in refused] == [422] * 3
    assert [a.json()["errors"][0]["field"] for a in refused] == ["body.url", "body.secrets", "body.url"]
    assert named.status_code == 200 and named.json()["url"] == named_url
