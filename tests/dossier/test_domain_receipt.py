"""The receipt's QR code: the exact fields of Circular 01/2023, and a PNG image of it."""

from __future__ import annotations

import dataclasses
import json
import struct
from datetime import UTC, datetime, timedelta, timezone

import pytest
import segno

from services.dossier.domain.receipt import ReceiptQr, qr_png, qr_text

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

QR = ReceiptQr(
    dossier_code="H15.50-251203-2035",
    procedure_code="1.001234",
    applicant_id="001090012345",
    document_name="Giấy tiếp nhận hồ sơ và hẹn trả kết quả",
    source_system="Cổng Dịch vụ công quốc gia",
    issued_at=datetime(2025, 12, 3, 2, 15, 9, tzinfo=UTC),
    lookup_url="https://dichvucong.gov.vn/tra-cuu?ma=H15.50-251203-2035",
)


def test_qr_text_decodes_to_the_exact_fields() -> None:
    assert json.loads(qr_text(QR)) == {
        "ma_ho_so": "H15.50-251203-2035",
        "ma_tthc": "1.001234",
        "ma_dinh_danh": "001090012345",
        "ten_giay_to": "Giấy tiếp nhận hồ sơ và hẹn trả kết quả",
        "he_thong": "Cổng Dịch vụ công quốc gia",
        "thoi_gian": "20251203091509",  # 02:15:09 UTC is 09:15:09 in Hanoi
        "tra_cuu": "https://dichvucong.gov.vn/tra-cuu?ma=H15.50-251203-2035",
    }


def test_qr_text_is_compact_sorted_and_keeps_vietnamese() -> None:
    text = qr_text(QR)
    assert " " not in text.replace(QR.document_name, "").replace(QR.source_system, "")
    assert "\\u" not in text and "Giấy tiếp nhận" in text
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert text.startswith('{"he_thong":"Cổng Dịch vụ công quốc gia","ma_dinh_danh":"001090012345",')
    assert qr_text(QR) == text  # deterministic


def test_without_a_lookup_url_there_is_no_tra_cuu() -> None:
    data = json.loads(qr_text(dataclasses.replace(QR, lookup_url=None)))
    assert set(data) == {"ma_ho_so", "ma_tthc", "ma_dinh_danh", "ten_giay_to", "he_thong", "thoi_gian"}


def test_time_is_local_and_crosses_the_date_line() -> None:
    late = dataclasses.replace(QR, issued_at=datetime(2025, 12, 31, 23, 30, tzinfo=UTC))
    assert json.loads(qr_text(late))["thoi_gian"] == "20260101063000"
    offset = dataclasses.replace(QR, issued_at=datetime(2025, 12, 3, 9, 0, tzinfo=timezone(timedelta(hours=-5))))
    assert json.loads(qr_text(offset))["thoi_gian"] == "20251203210000"


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        qr_text(dataclasses.replace(QR, issued_at=datetime(2025, 12, 3, 9, 0)))


def test_the_receipt_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        QR.dossier_code = "x"  # type: ignore[misc]


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_png_starts_with_the_signature_and_has_the_expected_size() -> None:
    text = qr_text(QR)
    png = qr_png(text)
    assert png.startswith(PNG_SIGNATURE)
    expected = segno.make_qr(text, error="m", boost_error=False)
    assert expected.error == "M"
    side = (expected.symbol_size(scale=1, border=0)[0] + 2 * 4) * 4  # modules + quiet zone of 4, 4 px each
    assert _png_size(png) == (side, side)


def test_scale_changes_the_pixel_size_only() -> None:
    text = qr_text(QR)
    small, large = _png_size(qr_png(text, scale=1)), _png_size(qr_png(text, scale=8))
    assert large == (small[0] * 8, small[1] * 8)


@pytest.mark.parametrize("scale", [0, -1, 1.5, True])
def test_a_bad_scale_is_refused(scale: object) -> None:
    with pytest.raises(ValueError):
        qr_png("x", scale=scale)  # type: ignore[arg-type]


def test_text_too_long_for_a_qr_code_is_refused() -> None:
    with pytest.raises(ValueError):
        qr_png("x" * 5000)
