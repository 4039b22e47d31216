"""What an agency's system receives, in the format it reads. Pure Python.

Three kinds of delivery reach the agency responsible for a dossier, each once per fact
(``kind``): the **filing** (the dossier as the citizen filed it: ``DossierSubmitted``), a
**supplement** (the documents the citizen sent answering the agency's request, status 5:
``DossierSupplemented``) and a **withdrawal** (the citizen asks to withdraw, status 7:
``WithdrawalRequested``). The payload kept is the event's data (the portal's JSON);
:func:`render` gives what the agency reads:

- ``portal``: that JSON as it is (the kind travels beside it: ``X-Delivery-Kind``, the feed's
  ``kind``).
- ``compat``: the provinces' envelope ``{"service": "DongBoHoSoMC", "isUpdating", "data": [one
  dossier]}``, dates ``yyyyMMddHHmmss`` in Vietnam time. A filing is the whole dossier
  (``isUpdating: false``, ``TrangThaiHoSo`` 1, ``TaiLieuNop``, ``DanhSachLePhi``); a supplement
  updates it (``TrangThaiHoSo`` 4, processing again) with one ``DanhSachHoSoBoSung`` entry
  (``MaYeuCauBoSung``, ``NgayYeuCauBoSung``, ``NgayBoSung``, ``NoiDungBoSung`` and the files as
  ``TaiLieuNop``); a withdrawal updates it to ``TrangThaiHoSo`` 7 with the reason in ``GhiChu``
  and the time in ``NgayYeuCauRut``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypedDict

from contracts.json import EventData

from .records import DOSSIER_SYNC, VIETNAM_TZ

# The functions below map the event's JSON as the portal published it (the stored payload, read as
# its contract's JSON) to the provinces' wire format, whose members are typed here.
KINDS = ("filing", "supplement", "withdrawal")
FORMATS = ("portal", "compat")
_APPLICANT_KIND = {"citizen": 1, "enterprise": 2}


def _local(moment: str | None) -> str | None:
    if not moment:
        return None
    return datetime.fromisoformat(moment).astimezone(VIETNAM_TZ).strftime("%Y%m%d%H%M%S")


def _day(value: str | None) -> str | None:
    return date.fromisoformat(value).strftime("%Y%m%d000000") if value else None


class CompatFile(TypedDict):
    TepDinhKemId: str
    TenTepDinhKem: str
    IsDeleted: bool
    MaThanhPhanHoSo: str | None


class CompatFee(TypedDict):
    MaPhiLePhi: str
    TenPhiLePhi: str
    Gia: int


class CompatSupplementEntry(TypedDict):
    MaYeuCauBoSung: str
    NgayYeuCauBoSung: str | None
    NgayBoSung: str | None
    NoiDungBoSung: str | None
    TaiLieuNop: list[CompatFile]


class CompatFiling(TypedDict):
    """A filing: the whole dossier."""

    MaHoSo: str
    MaDonVi: str
    MaTTHC: str
    TenTTHC: str
    ChuHoSo: str
    LoaiDoiTuong: int
    MaDoiTuong: str
    Email: str | None
    SoDienThoai: str | None
    NgayTiepNhan: str | None
    NgayHenTra: str | None
    TrangThaiHoSo: str
    TaiLieuNop: list[CompatFile]
    DanhSachLePhi: list[CompatFee]
    DanhSachHoSoBoSung: list[CompatSupplementEntry]


class CompatSupplement(TypedDict):
    """A supplement: the dossier processing again, with the documents sent."""

    MaHoSo: str
    MaDonVi: str
    TrangThaiHoSo: str
    DanhSachHoSoBoSung: list[CompatSupplementEntry]


class CompatWithdrawal(TypedDict):
    """A withdrawal: the dossier's status 7, the reason and when it was asked."""

    MaHoSo: str
    MaDonVi: str
    TrangThaiHoSo: str
    GhiChu: str | None
    NgayYeuCauRut: str | None


def _files(attachments: Sequence[Mapping[str, Any]]) -> list[CompatFile]:
    return [{"TepDinhKemId": a["id"], "TenTepDinhKem": a["filename"], "IsDeleted": False,
             "MaThanhPhanHoSo": a.get("component_code")} for a in attachments]  # fmt: skip


def _fee(line: Mapping[str, Any]) -> CompatFee:
    return {"MaPhiLePhi": line["code"], "TenPhiLePhi": line["name"], "Gia": line["amount"]}


def _filing(data: Mapping[str, Any]) -> CompatFiling:
    applicant = data["applicant"]
    return {
        "MaHoSo": data["code"],
        "MaDonVi": data["agency_code"],
        "MaTTHC": data["procedure_code"],
        "TenTTHC": data["procedure_name"],
        "ChuHoSo": applicant["name"],
        "LoaiDoiTuong": _APPLICANT_KIND[applicant["kind"]],
        "MaDoiTuong": applicant["identifier"],
        "Email": applicant.get("email"),
        "SoDienThoai": applicant.get("phone"),
        "NgayTiepNhan": _local(data["received_at"]),
        "NgayHenTra": _day(data.get("appointment_date")),
        "TrangThaiHoSo": "1",
        "TaiLieuNop": _files(data.get("attachments") or []),
        "DanhSachLePhi": [_fee(f) for f in data.get("fees") or []],
        "DanhSachHoSoBoSung": [],
    }


def _supplement(data: Mapping[str, Any]) -> CompatSupplement:
    return {
        "MaHoSo": data["code"],
        "MaDonVi": data["agency_code"],
        "TrangThaiHoSo": "4",
        "DanhSachHoSoBoSung": [
            {
                "MaYeuCauBoSung": str(data["supplement_id"]),
                "NgayYeuCauBoSung": _local(data["requested_at"]),
                "NgayBoSung": _local(data["supplemented_at"]),
                "NoiDungBoSung": data.get("note"),
                "TaiLieuNop": _files(data["attachments"]),
            }
        ],
    }


def _withdrawal(data: Mapping[str, Any]) -> CompatWithdrawal:
    return {
        "MaHoSo": data["code"],
        "MaDonVi": data["agency_code"],
        "TrangThaiHoSo": "7",
        "GhiChu": data.get("reason"),
        "NgayYeuCauRut": _local(data["requested_at"]),
    }


class CompatEnvelope(TypedDict):
    """The provinces' envelope around one dossier (``DongBoHoSoMC``)."""

    service: str
    isUpdating: bool  # the provinces' field name
    data: list[CompatFiling | CompatSupplement | CompatWithdrawal]


def render(kind: str, payload: Mapping[str, Any], fmt: str) -> EventData | CompatEnvelope:
    """What the agency reads for a delivery of ``kind`` whose stored payload is ``payload``."""
    if kind not in KINDS or fmt not in FORMATS:
        raise ValueError(f"unknown delivery kind {kind!r} or format {fmt!r}")
    if fmt == "portal":
        return dict(payload)
    record: CompatFiling | CompatSupplement | CompatWithdrawal
    if kind == "filing":
        record = _filing(payload)
    elif kind == "supplement":
        record = _supplement(payload)
    else:
        record = _withdrawal(payload)
    return {"service": DOSSIER_SYNC, "isUpdating": kind != "filing", "data": [record]}
