"""Reading pushed status records, portal and compatibility formats, into one model."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from contracts.events.sync import DossierStatusesReported, DossierStatusReported
from services.sync.domain.records import (
    MAX_RECORDS,
    MAX_TEXT,
    DescribedDossier,
    RecordError,
    RecordRejected,
    StatusRecord,
    compat_services,
    derived_record_id,
    parse_compat_record,
    parse_portal_record,
    status_events,
)

AGENCY = "000.00.01.H22"
OTHER = "000.00.02.H22"
ONE = frozenset({AGENCY})
TWO = frozenset({AGENCY, OTHER})
CODE = f"{AGENCY}-251203-0007"
OTHER_CODE = f"{OTHER}-251203-0007"
SYNC, PROGRESS = "DongBoHoSoMC", "CapNhatTienDoHoSoMC"

# AGENCY has its own status values; OTHER reuses the digit "4" for what is nationally "processed".
TABLE = {(AGENCY, "DA_TIEP_NHAN"): 2, (AGENCY, "DANG_XU_LY"): 4, (OTHER, "4"): 9}


def mapping(agency: str, value: str) -> int | None:
    return TABLE.get((agency, value))


def portal(raw: object, agencies: frozenset[str] = ONE, prefix: str = "records.0") -> StatusRecord:
    return parse_portal_record(raw, prefix=prefix, agencies=agencies, mapping=mapping)


def compat(raw: object, service: str = SYNC, agencies: frozenset[str] = ONE, prefix: str = "data.0") -> StatusRecord:
    return parse_compat_record(raw, service=service, prefix=prefix, agencies=agencies, mapping=mapping)


def rejected(call: Any, *args: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(RecordRejected) as caught:
        call(*args, **kwargs)
    errors = caught.value.errors
    assert errors and all(isinstance(error, RecordError) for error in errors)
    return {error.field: error.reason for error in errors}


def portal_returned() -> dict[str, Any]:
    return {
        "dossier_code": CODE,
        "agency_code": AGENCY,
        "status": 10,
        "occurred_at": "2025-12-10T09:15:00+07:00",
        "note": "Đã trả kết quả cho công dân",
        "handler": "Bộ phận một cửa",
        "finished_at": "2025-12-09T10:00:00Z",
        "returned_at": "2025-12-10T02:15:00+00:00",
        "dossier": {
            "procedure_code": "1.001234",
            "procedure_name": "Đăng ký khai sinh",
            "applicant_kind": "citizen",
            "applicant_identifier": "001090012345",
            "applicant_name": "Nguyễn Văn An",
            "received_at": "2025-12-03T23:30:00+07:00",
            "appointment_date": "2025-12-10",
        },
    }


def compat_returned() -> dict[str, Any]:
    return {
        "MaHoSo": CODE,
        "MaTTHC": "1.001234",
        "TenTTHC": "Đăng ký khai sinh",
        "MaLinhVuc": "HT",
        "TenLinhVuc": "Hộ tịch",
        "SoBienNhan": "0007",
        "ChuHoSo": " Nguyễn Văn An ",
        "LoaiDoiTuong": 1,
        "MaDoiTuong": "001090012345",
        "Email": "an@example.vn",
        "SoDienThoai": "0912345678",
        "TrichYeuHoSo": "Khai sinh cho con",
        "NgayTiepNhan": "20251203233000",
        "NgayHenTra": "20251210063000",
        "TrangThaiHoSo": "10",
        "NgayTra": "20251210091500",
        "HinhThuc": 1,
        "NgayKetThucXuLy": "20251209170000",
        "DonViXuLy": "Bộ phận một cửa",
        "GhiChu": "Đã trả kết quả cho công dân",
        "TaiLieuNop": [{"TepDinhKemId": 1, "TenTepDinhKem": "to-khai.pdf", "IsDeleted": False}],
        "DanhSachLePhi": [{"TenPhiLePhi": "Lệ phí", "MaPhiLePhi": "LP1", "Gia": 8000}],
        "DanhSachHoSoBoSung": [],
        "DanhSachGiayToKetQua": [{"TenGiayTo": "Giấy khai sinh", "GiayToId": 9}],
    }


def compat_progress() -> dict[str, Any]:
    return {
        "MaHoSo": CODE,
        "NguoiXuLy": "Trần Thị Bình",
        "ChucDanh": "Chuyên viên",
        "PhongBanXuLy": "Phòng Tư pháp",
        "ThoiDiemXuLy": "20251204081000",
        "NoiDungXuLy": "Chuyển phòng chuyên môn xử lý",
        "TrangThai": 4,
        "NgayBatDau": "20251204081000",
        "NgayKetThucTheoQuyDinh": "20251210170000",
    }


# -- one model for both formats --------------------------------------------------------------------


def test_a_dossier_sync_and_the_portal_format_read_the_same_facts_into_the_same_record() -> None:
    from_portal = portal(portal_returned())
    from_compat = compat(compat_returned())
    assert from_compat == from_portal
    assert from_portal.code == CODE and from_portal.agency_code == AGENCY and from_portal.status == 10
    assert from_portal.occurred_at == datetime(2025, 12, 10, 2, 15, tzinfo=UTC)
    assert from_portal.finished_at == datetime(2025, 12, 9, 10, 0, tzinfo=UTC)
    assert from_portal.dossier == DescribedDossier(
        procedure_code="1.001234",
        procedure_name="Đăng ký khai sinh",
        applicant_kind="citizen",
        applicant_identifier="001090012345",
        applicant_name="Nguyễn Văn An",
        received_at=datetime(2025, 12, 3, 16, 30, tzinfo=UTC),
        appointment_date=date(2025, 12, 10),
    )
    assert from_portal.record_id.startswith("h:")


def test_a_progress_update_and_the_portal_format_read_the_same_facts_into_the_same_record() -> None:
    from_compat = compat(compat_progress(), PROGRESS)
    from_portal = portal(
        {
            "dossier_code": CODE,
            "agency_code": AGENCY,
            "local_status": "DANG_XU_LY",
            "occurred_at": "2025-12-04T01:10:00Z",
            "note": "Chuyển phòng chuyên môn xử lý",
            "handler": "Trần Thị Bình – Chuyên viên, Phòng Tư pháp",
        }
    )
    assert from_compat == from_portal
    assert from_compat.status == 4 and from_compat.dossier is None
    assert from_compat.finished_at is None and from_compat.returned_at is None


def test_a_dossier_sync_dates_its_status_from_the_latest_step_it_reports() -> None:
    received_only = compat_returned()
    del received_only["NgayTra"], received_only["NgayKetThucXuLy"]
    assert compat(received_only).occurred_at == datetime(2025, 12, 3, 16, 30, tzinfo=UTC)
    processed = compat_returned()
    processed["NgayTra"] = ""  # provincial systems send empty strings for absent dates
    record = compat(processed)
    assert record.occurred_at == datetime(2025, 12, 9, 10, 0, tzinfo=UTC)
    assert record.returned_at is None


def test_the_appointment_is_the_day_of_ngayhentra_in_vietnam() -> None:
    raw = compat_returned()
    raw["NgayHenTra"] = "20251210063000"  # 2025-12-09 23:30 in UTC
    described = compat(raw).dossier
    assert described is not None and described.appointment_date == date(2025, 12, 10)


# -- the event ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(lambda: portal(portal_returned()), id="portal-with-dossier"),
        pytest.param(lambda: compat(compat_returned()), id="dossier-sync"),
        pytest.param(lambda: compat(compat_progress(), PROGRESS), id="progress-update"),
        pytest.param(
            lambda: portal(
                {
                    "record_id": "r-1",
                    "dossier_code": CODE,
                    "agency_code": AGENCY,
                    "status": 2,
                    "occurred_at": "2025-12-04T08:00:00.123456+07:00",
                }
            ),
            id="portal-minimal",
        ),
    ],
)
def test_event_data_is_exactly_a_valid_status_reported_event(record: Any) -> None:
    from services.sync.service.inbound import reported

    data = record().event_data()
    event = DossierStatusReported.model_validate(data)
    assert event.model_dump(mode="json") == data
    assert reported(record()) == event  # the event the use case builds from the record, field by field
    assert set(data) == set(DossierStatusReported.model_fields)
    assert json.loads(json.dumps(data)) == data


# -- required fields, several errors -----------------------------------------------------------------


def test_every_missing_required_field_of_the_portal_format_is_named() -> None:
    errors = rejected(portal, {}, prefix="records.7")
    assert set(errors) == {
        "records.7.dossier_code",
        "records.7.agency_code",
        "records.7.status",
        "records.7.occurred_at",
    }
    errors = rejected(portal, {**portal_returned(), "dossier": {}})
    assert errors == {
        "records.0.dossier.procedure_code": "required",
        "records.0.dossier.applicant_kind": "required",
        "records.0.dossier.applicant_identifier": "required",
    }


def test_every_missing_required_field_of_a_dossier_sync_is_named() -> None:
    errors = rejected(compat, {"TenTTHC": "Đăng ký khai sinh"}, prefix="data.3")
    assert errors == {
        f"data.3.{name}": "required"
        for name in ("MaHoSo", "MaTTHC", "TrangThaiHoSo", "LoaiDoiTuong", "MaDoiTuong", "NgayTiepNhan")
    }


def test_every_missing_required_field_of_a_progress_update_is_named() -> None:
    errors = rejected(compat, {"NguoiXuLy": "Trần Thị Bình", "TrangThai": ""}, PROGRESS, prefix="data.1")
    assert errors == {f"data.1.{name}": "required" for name in ("MaHoSo", "TrangThai", "ThoiDiemXuLy")}


def test_several_errors_in_one_record_are_all_reported() -> None:
    raw = portal_returned()
    raw.update(dossier_code="H22 01/251203", agency_code=OTHER, status=11, occurred_at="2025-12-10T09:15:00")
    raw["dossier"]["applicant_identifier"] = "12345"
    errors = rejected(portal, raw)
    assert set(errors) == {
        "records.0.dossier_code",
        "records.0.agency_code",
        "records.0.status",
        "records.0.occurred_at",
        "records.0.dossier.applicant_identifier",
    }
    compat_raw = compat_returned()
    compat_raw.update(MaHoSo="", LoaiDoiTuong=3, NgayTiepNhan="2025-12-03", TrangThaiHoSo="XYZ")
    errors = rejected(compat, compat_raw)
    assert set(errors) == {"data.0.MaHoSo", "data.0.LoaiDoiTuong", "data.0.NgayTiepNhan", "data.0.TrangThaiHoSo"}


def test_the_exception_message_lists_the_errors() -> None:
    with pytest.raises(RecordRejected) as caught:
        portal({"dossier_code": CODE}, prefix="records.2")
    assert "records.2.agency_code: required" in str(caught.value)


def test_a_record_that_is_not_an_object_is_rejected_on_its_path() -> None:
    assert rejected(portal, ["not", "an", "object"], prefix="records.4") == {"records.4": "expected an object"}
    assert rejected(compat, "MaHoSo", prefix="data.9") == {"data.9": "expected an object"}


# -- dates --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["occurred_at", "finished_at", "returned_at"])
def test_a_portal_date_without_offset_is_rejected_on_its_field(name: str) -> None:
    raw = {**portal_returned(), name: "2025-12-10T09:15:00"}
    errors = rejected(portal, raw)
    assert list(errors) == [f"records.0.{name}"]
    assert "offset" in errors[f"records.0.{name}"]


@pytest.mark.parametrize("value", ["10/12/2025 09:15", "yesterday", 20251210, ""])
def test_a_portal_date_that_is_not_iso_is_rejected(value: object) -> None:
    errors = rejected(portal, {**portal_returned(), "occurred_at": value})
    assert list(errors) == ["records.0.occurred_at"]


def test_a_portal_dossier_received_without_offset_or_an_appointment_not_a_day_is_rejected() -> None:
    raw = portal_returned()
    raw["dossier"].update(received_at="2025-12-03T23:30:00", appointment_date="20251210")
    assert set(rejected(portal, raw)) == {"records.0.dossier.received_at", "records.0.dossier.appointment_date"}


@pytest.mark.parametrize(
    "value",
    [
        "20251303233000",
        "20251232233000",
        "20251203243000",
        "2025120323300",
        "202512032330000",
        "2025-12-03 23:30",
        "2025120323300x",
        "00000101000000",
        ["20251203233000"],
    ],
)
@pytest.mark.parametrize("name", ["NgayTiepNhan", "NgayTra", "NgayKetThucXuLy", "NgayHenTra"])
def test_a_malformed_compat_date_is_rejected_on_its_field(name: str, value: object) -> None:
    errors = rejected(compat, {**compat_returned(), name: value}, prefix="data.5")
    assert list(errors) == [f"data.5.{name}"]


def test_a_malformed_progress_time_is_rejected_on_its_field() -> None:
    errors = rejected(compat, {**compat_progress(), "ThoiDiemXuLy": "20251204251000"}, PROGRESS)
    assert list(errors) == ["data.0.ThoiDiemXuLy"]


def test_vietnam_2330_on_3_december_2025_is_1630_utc() -> None:
    record = compat({**compat_progress(), "ThoiDiemXuLy": "20251203233000"}, PROGRESS)
    assert record.occurred_at == datetime(2025, 12, 3, 16, 30, tzinfo=UTC)
    assert record.occurred_at.utcoffset() == timedelta(0)
    # A number where the string is expected is read as its digits.
    assert compat({**compat_progress(), "ThoiDiemXuLy": 20251203233000}, PROGRESS).occurred_at == record.occurred_at


def test_portal_times_are_converted_to_utc() -> None:
    record = portal({**portal_returned(), "occurred_at": "2025-12-03T23:30:00+07:00"})
    assert record.occurred_at == datetime(2025, 12, 3, 16, 30, tzinfo=UTC)
    assert record.occurred_at.tzinfo is UTC


# -- status --------------------------------------------------------------------------------------------


def test_a_mapped_local_status_becomes_the_national_one() -> None:
    assert compat({**compat_progress(), "TrangThai": "DA_TIEP_NHAN"}, PROGRESS).status == 2
    assert compat({**compat_progress(), "TrangThai": " DANG_XU_LY "}, PROGRESS).status == 4
    raw = {k: v for k, v in portal_returned().items() if k != "status"}
    assert portal({**raw, "local_status": "DA_TIEP_NHAN"}).status == 2


def test_the_mapping_comes_before_the_national_number() -> None:
    # OTHER's own "4" is nationally 9, not 4.
    raw = {**compat_progress(), "MaHoSo": OTHER_CODE, "TrangThai": 4, "MaDonVi": OTHER}
    record = compat(raw, PROGRESS, agencies=TWO)
    assert record.status == 9 and record.agency_code == OTHER


@pytest.mark.parametrize("value", [1, "7", 10, "10"])
def test_an_unmapped_whole_number_1_to_10_is_the_national_status(value: object) -> None:
    assert compat({**compat_progress(), "TrangThai": value}, PROGRESS).status == int(value)


@pytest.mark.parametrize("value", ["CHO_DUYET", 0, 11, "-1", "4.5", "99"])
def test_an_unknown_local_status_is_rejected_naming_the_agency(value: object) -> None:
    errors = rejected(compat, {**compat_progress(), "TrangThai": value}, PROGRESS, prefix="data.2")
    assert errors == {
        "data.2.TrangThai": f"unknown local status '{value}' for agency {AGENCY}: add it to the agency's status mapping"
    }


def test_an_unknown_portal_local_status_is_rejected_naming_the_agency() -> None:
    raw = {k: v for k, v in portal_returned().items() if k != "status"}
    errors = rejected(portal, {**raw, "local_status": "4"})
    assert AGENCY in errors["records.0.local_status"] and "status mapping" in errors["records.0.local_status"]


@pytest.mark.parametrize("value", [0, 11, "4", True, 4.0])
def test_a_portal_status_is_a_whole_number_1_to_10(value: object) -> None:
    assert list(rejected(portal, {**portal_returned(), "status": value})) == ["records.0.status"]


def test_a_portal_record_gives_status_or_local_status_not_both() -> None:
    errors = rejected(portal, {**portal_returned(), "local_status": "DA_TIEP_NHAN"})
    assert list(errors) == ["records.0.local_status"]


def test_a_mapping_giving_no_national_status_is_rejected() -> None:
    errors = rejected(
        parse_compat_record,
        {**compat_progress(), "TrangThai": "X"},
        service=PROGRESS,
        prefix="data.0",
        agencies=ONE,
        mapping=lambda agency, value: 42,
    )
    assert list(errors) == ["data.0.TrangThai"]


# -- agencies ------------------------------------------------------------------------------------------


def test_a_portal_agency_the_client_is_not_registered_for_is_rejected() -> None:
    errors = rejected(portal, {**portal_returned(), "dossier_code": OTHER_CODE, "agency_code": OTHER})
    assert errors == {"records.0.agency_code": "not an agency this client may push for"}
    record = portal({**portal_returned(), "dossier_code": OTHER_CODE, "agency_code": OTHER}, agencies=TWO)
    assert record.agency_code == OTHER


def test_a_compat_madonvi_the_client_is_not_registered_for_is_rejected() -> None:
    errors = rejected(compat, {**compat_progress(), "MaHoSo": OTHER_CODE, "MaDonVi": OTHER}, PROGRESS)
    assert errors == {"data.0.MaDonVi": "not an agency this client may push for"}


def test_the_dossier_s_agency_comes_from_its_code_not_from_the_optional_field() -> None:
    # Issue 17: a client of AGENCY names no MaDonVi for OTHER's dossier: refused on the code.
    errors = rejected(compat, {**compat_returned(), "MaHoSo": OTHER_CODE, "NgayTra": "20991231000000"})
    assert errors["data.0.MaHoSo"] == f"a dossier of agency {OTHER}, not an agency this client may push for"
    # A client of several agencies needs no MaDonVi either: the code decides.
    assert compat({**compat_progress(), "MaHoSo": OTHER_CODE}, PROGRESS, agencies=TWO).agency_code == OTHER
    # Naming one's own agency for another's dossier is refused on the name, in both formats.
    errors = rejected(compat, {**compat_progress(), "MaHoSo": OTHER_CODE, "MaDonVi": AGENCY}, PROGRESS)
    assert errors == {"data.0.MaDonVi": f"the dossier {OTHER_CODE} belongs to agency {OTHER}"}
    errors = rejected(portal, {**portal_returned(), "dossier_code": OTHER_CODE})
    assert errors == {"records.0.agency_code": f"the dossier {OTHER_CODE} belongs to agency {OTHER}"}


def test_a_known_dossier_s_recorded_agency_decides_over_its_code() -> None:
    # A desk dossier mirrored under OTHER although its code starts with AGENCY's.
    def owner(code: str) -> str | None:
        return OTHER if code == CODE else None

    errors = rejected(parse_compat_record, compat_progress(), service=PROGRESS, prefix="data.0", agencies=ONE,
                      mapping=mapping, owner=owner)  # fmt: skip
    assert errors == {"data.0.MaHoSo": f"a dossier of agency {OTHER}, not an agency this client may push for"}
    record = parse_portal_record({**portal_returned(), "agency_code": OTHER}, prefix="r", agencies=TWO,
                                 mapping=mapping, owner=owner)  # fmt: skip
    assert record.agency_code == OTHER


def test_without_madonvi_a_code_naming_no_agency_takes_the_client_s_single_agency() -> None:
    assert compat(compat_progress(), PROGRESS).agency_code == AGENCY
    plain = {**compat_returned(), "MaHoSo": "HS-0007"}
    assert compat(plain, agencies=frozenset({OTHER})).agency_code == OTHER


def test_without_madonvi_a_code_naming_no_agency_from_a_client_of_several_is_rejected() -> None:
    errors = rejected(compat, {**compat_progress(), "MaHoSo": "HS-0007"}, PROGRESS, agencies=TWO)
    assert errors == {"data.0.MaDonVi": "required: the code names no agency and the client pushes for several"}
    assert (
        compat({**compat_progress(), "MaHoSo": "HS-0007", "MaDonVi": OTHER}, PROGRESS, agencies=TWO).agency_code
        == OTHER
    )


NOW = datetime(2025, 12, 10, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("service", "name"),
    [(SYNC, "NgayTiepNhan"), (SYNC, "NgayKetThucXuLy"), (SYNC, "NgayTra"), (PROGRESS, "ThoiDiemXuLy")],
)
def test_a_compat_time_that_orders_records_is_not_beyond_the_clock_skew(service: str, name: str) -> None:
    raw = {**(compat_returned() if service == SYNC else compat_progress()), name: "20991231000000"}
    with pytest.raises(RecordRejected) as caught:
        parse_compat_record(raw, service=service, prefix="data.0", agencies=ONE, mapping=mapping,
                            not_after=NOW + timedelta(minutes=5))  # fmt: skip
    assert {e.field: e.reason for e in caught.value.errors} == {
        f"data.0.{name}": "in the future: later than now plus the clock-skew tolerance"
    }
    # Within the tolerance (10:04 in Hanoi is 03:04 UTC, the tolerance ends at 03:05) is fine.
    within = {**raw, name: "20251210100400"}
    if service == SYNC:
        within = {**within, "NgayTiepNhan": "20251203083000"} if name != "NgayTiepNhan" else within
    parse_compat_record(within, service=service, prefix="data.0", agencies=ONE, mapping=mapping,
                        not_after=NOW + timedelta(minutes=5))  # fmt: skip


@pytest.mark.parametrize("name", ["occurred_at", "finished_at", "returned_at"])
def test_a_portal_time_that_orders_records_is_not_beyond_the_clock_skew(name: str) -> None:
    raw = {**portal_returned(), name: "2099-01-01T00:00:00+07:00"}
    with pytest.raises(RecordRejected) as caught:
        parse_portal_record(raw, prefix="records.0", agencies=ONE, mapping=mapping, not_after=NOW)
    assert [e.field for e in caught.value.errors] == [f"records.0.{name}"]
    received = portal_returned()
    received["dossier"] = {**received["dossier"], "received_at": "2099-01-01T00:00:00Z"}
    with pytest.raises(RecordRejected) as caught:
        parse_portal_record(received, prefix="records.0", agencies=ONE, mapping=mapping, not_after=NOW)
    assert [e.field for e in caught.value.errors] == ["records.0.dossier.received_at"]
    # The appointment is ahead by nature: never refused for that.
    ahead = portal_returned()
    ahead["dossier"] = {**ahead["dossier"], "appointment_date": "2099-01-01"}
    assert parse_portal_record(ahead, prefix="r", agencies=ONE, mapping=mapping, not_after=NOW).dossier


# -- record ids ----------------------------------------------------------------------------------------

AT = datetime(2025, 12, 4, 1, 10, tzinfo=UTC)


def test_derived_record_ids_are_stable() -> None:
    first = derived_record_id(AGENCY, CODE, 4, AT, "note")
    assert first == derived_record_id(AGENCY, CODE, 4, AT, "note")
    assert first.startswith("h:") and len(first) == 34 and int(first[2:], 16) >= 0
    # The same instant written with another offset is the same record.
    assert first == derived_record_id(AGENCY, CODE, 4, AT.astimezone(timezone(timedelta(hours=7))), "note")
    # Pushed twice, a compatibility record has the same id.
    assert compat(compat_progress(), PROGRESS).record_id == compat(compat_progress(), PROGRESS).record_id


@pytest.mark.parametrize(
    "other",
    [
        (AGENCY, CODE, 5, AT, "note"),
        (AGENCY, CODE, 4, AT + timedelta(seconds=1), "note"),
        (AGENCY, CODE, 4, AT, "another note"),
        (AGENCY, CODE, 4, AT, None),
        (AGENCY, CODE, 4, AT, ""),
        (OTHER, CODE, 4, AT, "note"),
        (AGENCY, CODE + "1", 4, AT, "note"),
        # Fields joined unambiguously: moving text across a boundary changes the id.
        (AGENCY + "|" + CODE, "", 4, AT, "note"),
    ],
)
def test_derived_record_ids_differ_when_the_facts_differ(other: tuple[Any, ...]) -> None:
    assert derived_record_id(*other) != derived_record_id(AGENCY, CODE, 4, AT, "note")


def test_a_progress_update_with_another_status_time_or_note_gets_another_id() -> None:
    base = compat(compat_progress(), PROGRESS).record_id
    assert compat({**compat_progress(), "TrangThai": 5}, PROGRESS).record_id != base
    assert compat({**compat_progress(), "ThoiDiemXuLy": "20251204081001"}, PROGRESS).record_id != base
    assert compat({**compat_progress(), "NoiDungXuLy": "Khác"}, PROGRESS).record_id != base


def test_a_naive_time_has_no_derived_id() -> None:
    with pytest.raises(ValueError):
        derived_record_id(AGENCY, CODE, 4, datetime(2025, 12, 4, 8, 10), None)


def test_a_given_record_id_is_kept_and_checked() -> None:
    assert portal({**portal_returned(), "record_id": " r-42 "}).record_id == "r-42"
    assert list(rejected(portal, {**portal_returned(), "record_id": "x" * 101})) == ["records.0.record_id"]
    assert list(rejected(portal, {**portal_returned(), "record_id": "  "})) == ["records.0.record_id"]
    assert list(rejected(portal, {**portal_returned(), "record_id": 42})) == ["records.0.record_id"]


# -- unknown fields ------------------------------------------------------------------------------------


def test_unknown_fields_are_rejected_in_the_portal_format_each_by_name() -> None:
    raw = {**portal_returned(), "Status": 4, "extra": None}
    raw["dossier"] = {**raw["dossier"], "email": "an@example.vn"}
    errors = rejected(portal, raw)
    assert errors == {
        "records.0.Status": "unknown field",
        "records.0.extra": "unknown field",
        "records.0.dossier.email": "unknown field",
    }


def test_unknown_fields_are_ignored_in_the_compat_format() -> None:
    plain = compat(compat_returned())
    extended = compat({**compat_returned(), "MaTinh": "22", "TruongRiengCuaTinh": {"x": [1, 2]}, "isUpdating": True})
    assert extended == plain
    progress = compat({**compat_progress(), "MaCanBo": 17}, PROGRESS)
    assert progress == compat(compat_progress(), PROGRESS)


# -- identifiers and text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "identifier", "accepted"),
    [
        ("citizen", "001090012345", True),
        ("citizen", "00109001234", False),
        ("citizen", "0010900123456", False),
        ("citizen", "00109001234a", False),
        ("citizen", "0100109185", False),
        ("citizen", "００１０９００１２３４５", False),
        ("enterprise", "0100109106", True),
        ("enterprise", "0100109106-001", True),
        ("enterprise", "010010910", False),
        ("enterprise", "0100109106-01", False),
        ("enterprise", "0100109106001", False),
        ("enterprise", "001090012345", False),
    ],
)
def test_applicant_identifiers_have_the_shape_of_their_kind(kind: str, identifier: str, accepted: bool) -> None:
    raw = portal_returned()
    raw["dossier"].update(applicant_kind=kind, applicant_identifier=identifier)
    compat_raw = {
        **compat_returned(),
        "LoaiDoiTuong": {"citizen": "1", "enterprise": "2"}[kind],
        "MaDoiTuong": identifier,
    }
    if accepted:
        from_portal, from_compat = portal(raw).dossier, compat(compat_raw).dossier
        assert from_portal is not None and from_portal.applicant_identifier == identifier
        assert from_compat is not None and from_compat.applicant_kind == kind
    else:
        assert list(rejected(portal, raw)) == ["records.0.dossier.applicant_identifier"]
        assert list(rejected(compat, compat_raw)) == ["data.0.MaDoiTuong"]


def test_a_citizen_number_sent_as_a_json_number_loses_its_zero_and_is_rejected() -> None:
    assert list(rejected(compat, {**compat_returned(), "MaDoiTuong": 1090012345})) == ["data.0.MaDoiTuong"]


@pytest.mark.parametrize("code", ["", "H22 01-251203-0007", "H22/01-251203-0007", "x" * 65, "mã-hồ-sơ"])
def test_dossier_codes_are_1_to_64_letters_digits_dots_and_hyphens(code: str) -> None:
    assert list(rejected(portal, {**portal_returned(), "dossier_code": code})) == ["records.0.dossier_code"]
    assert list(rejected(compat, {**compat_returned(), "MaHoSo": code})) == ["data.0.MaHoSo"]


def test_a_64_character_dossier_code_is_accepted() -> None:
    assert portal({**portal_returned(), "dossier_code": "A." + "1" * 62}).code == "A." + "1" * 62


@pytest.mark.parametrize("bad", ["a\x00b", "a\x1bb", "a\rb", "a\x7fb", "a\u0085b", "a\ud800b"])
def test_control_characters_other_than_newline_and_tab_are_refused(bad: str) -> None:
    assert list(rejected(portal, {**portal_returned(), "note": bad})) == ["records.0.note"]
    assert list(rejected(compat, {**compat_progress(), "NoiDungXuLy": bad}, PROGRESS)) == ["data.0.NoiDungXuLy"]


def test_text_is_stripped_and_keeps_newlines_and_tabs() -> None:
    record = portal({**portal_returned(), "note": "  Dòng 1\r\n\tDòng 2  ", "handler": "  "})
    assert record.note == "Dòng 1\n\tDòng 2"
    assert record.handler is None


def test_text_is_bounded() -> None:
    assert portal({**portal_returned(), "note": "x" * MAX_TEXT}).note == "x" * MAX_TEXT
    errors = rejected(portal, {**portal_returned(), "note": "x" * (MAX_TEXT + 1), "handler": "y" * 201})
    assert set(errors) == {"records.0.note", "records.0.handler"}
    errors = rejected(compat, {**compat_returned(), "GhiChu": "x" * (MAX_TEXT + 1), "TenTTHC": "y" * 501})
    assert set(errors) == {"data.0.GhiChu", "data.0.TenTTHC"}


def test_a_composed_handler_stays_within_the_event_s_bound() -> None:
    long = {**compat_progress(), "NguoiXuLy": "a" * 150, "PhongBanXuLy": "b" * 150}
    record = compat(long, PROGRESS)
    assert record.handler is not None and len(record.handler) <= 200
    DossierStatusReported.model_validate(record.event_data())


def test_a_handler_is_composed_of_the_parts_present() -> None:
    assert compat({**compat_progress(), "ChucDanh": None}, PROGRESS).handler == "Trần Thị Bình – Phòng Tư pháp"
    only_department = {**compat_progress(), "NguoiXuLy": "", "ChucDanh": ""}
    assert compat(only_department, PROGRESS).handler == "Phòng Tư pháp"
    nobody = {k: v for k, v in compat_progress().items() if k not in ("NguoiXuLy", "ChucDanh", "PhongBanXuLy")}
    assert compat(nobody, PROGRESS).handler is None


@pytest.mark.parametrize("value", ["0", "3", "citizen", None, True])
def test_the_applicant_kind_of_a_dossier_sync_is_1_or_2(value: object) -> None:
    assert list(rejected(compat, {**compat_returned(), "LoaiDoiTuong": value})) == ["data.0.LoaiDoiTuong"]


def test_the_portal_applicant_kind_is_citizen_or_enterprise() -> None:
    raw = portal_returned()
    raw["dossier"]["applicant_kind"] = "1"
    assert list(rejected(portal, raw)) == ["records.0.dossier.applicant_kind"]


# -- constants -----------------------------------------------------------------------------------------


def test_the_compat_services_and_limits() -> None:
    assert compat_services() == frozenset({"DongBoHoSoMC", "CapNhatTienDoHoSoMC"})
    assert (MAX_RECORDS, MAX_TEXT) == (1000, 2000)
    with pytest.raises(ValueError):
        compat(compat_progress(), "TraCuuHoSo")


# The events that carry accepted records


def data(i: int, agency: str = AGENCY, note: str | None = None) -> StatusRecord:
    at = datetime(2025, 12, 3, 9, 0, tzinfo=UTC) + timedelta(seconds=i)
    return StatusRecord(record_id=f"r{i}", code=f"{CODE}{i}", agency_code=agency, status=4, occurred_at=at, note=note)


def wire(agency: str, chunk: list[StatusRecord]) -> dict[str, Any]:
    """The data of the DossierStatusesReported that carries ``chunk``, as the broker carries it."""
    from services.sync.service.inbound import reported

    return DossierStatusesReported(agency_code=agency, records=[reported(r) for r in chunk]).model_dump(mode="json")


def test_records_travel_by_agency_in_their_order() -> None:
    records = [data(0), data(1, OTHER), data(2), data(3, OTHER), data(4)]
    events = status_events(records, max_records=1000, max_bytes=256 * 1024)
    assert [(key, [r.record_id for r in chunk]) for key, chunk in events] == [
        (AGENCY, ["r0", "r2", "r4"]), (OTHER, ["r1", "r3"])
    ]  # fmt: skip
    assert all(r.agency_code == key for key, chunk in events for r in chunk)


def test_events_are_cut_by_count_and_by_size() -> None:
    by_count = status_events([data(i) for i in range(7)], max_records=3, max_bytes=10**6)
    assert [len(chunk) for _, chunk in by_count] == [3, 3, 1]
    note = "Hồ sơ đang được xử lý " * 90  # about 2 KiB of UTF-8 each
    big = [data(i, note=note) for i in range(10)]
    one = len(json.dumps(big[0].event_data(), ensure_ascii=False, separators=(",", ":")).encode())
    by_size = status_events(big, max_records=1000, max_bytes=3 * one + 10)
    assert [len(chunk) for _, chunk in by_size] == [3, 3, 3, 1]
    for key, chunk in by_size:  # what the broker carries stays under the bound
        assert len(json.dumps(wire(key, chunk), ensure_ascii=False, separators=(",", ":")).encode()) <= 3 * one + 100
    alone = status_events(big[:2], max_records=1000, max_bytes=10)
    assert [len(chunk) for _, chunk in alone] == [1, 1]  # a record over the bound still travels, alone
    assert [r.record_id for _, chunk in by_size for r in chunk] == [f"r{i}" for i in range(10)]


def test_the_worst_case_push_fits_the_broker() -> None:
    """A thousand records with every text field at its longest, in four-byte characters: every
    event stays under the envelope's limit."""
    from dataclasses import replace

    from contracts.envelope import MAX_EVENT_BYTES
    from contracts.events.sync import MAX_EVENT_DATA_BYTES, MAX_RECORDS_PER_EVENT

    longest = "𠀀" * MAX_TEXT
    records = [replace(data(i, note=longest), handler="𠀀" * 200) for i in range(1000)]
    events = status_events(records, max_records=MAX_RECORDS_PER_EVENT, max_bytes=MAX_EVENT_DATA_BYTES)
    assert len(events) > 1
    for key, chunk in events:
        assert len(json.dumps(wire(key, chunk), ensure_ascii=False, separators=(",", ":")).encode()) < MAX_EVENT_BYTES


def test_the_refused_characters_are_exactly_unicodes_controls_but_newline_and_tab_and_surrogates() -> None:
    """Every code point, checked against the Unicode database's categories."""
    import sys
    import unicodedata

    from services.sync.domain.records import _REFUSED_CHARACTER

    for point in range(sys.maxunicode + 1):
        character = chr(point)
        category = unicodedata.category(character)
        refused = (category == "Cc" and character not in "\n\t") or category == "Cs"
        assert bool(_REFUSED_CHARACTER.search(character)) is refused, hex(point)
