"""Attached files: kind by magic bytes only, names that are labels, never paths, and one read of
an upload for its kind, size and digest."""

from __future__ import annotations

import hashlib
import io
import unicodedata

import pytest

from services.kit.errors import PayloadTooLarge
from services.kit.files import SNIFF_BYTES, FileKind, UnsupportedFile, inspect, safe_filename, sniff
from services.kit.problems import problem_for, status_type

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def test_kinds_are_media_types_with_extensions() -> None:
    assert FileKind.PDF == "application/pdf" and FileKind.PDF.extension == ".pdf"
    assert FileKind.JPEG == "image/jpeg" and FileKind.JPEG.extension == ".jpg"
    assert FileKind.PNG == "image/png" and FileKind.PNG.extension == ".png"
    assert FileKind("image/png") is FileKind.PNG


@pytest.mark.parametrize(("content", "kind"), [(PDF, FileKind.PDF), (JPEG, FileKind.JPEG), (PNG, FileKind.PNG)])
def test_real_magic_bytes(content: bytes, kind: FileKind) -> None:
    assert SNIFF_BYTES == 16
    assert sniff(content[:SNIFF_BYTES]) is kind
    assert sniff(content) is kind


def test_a_jpeg_with_exif_marker() -> None:
    assert sniff(b"\xff\xd8\xff\xe1\x00\x18Exif\x00\x00") is FileKind.JPEG


def test_a_text_file_named_pdf_is_not_a_pdf() -> None:
    text = "Đơn đề nghị cấp giấy phép\n%PDF-1.7\n".encode()
    assert sniff(text[:SNIFF_BYTES]) is None


def test_a_png_sent_as_jpeg_is_a_png() -> None:
    declared = FileKind("image/jpeg")
    assert sniff(PNG[:SNIFF_BYTES]) is FileKind.PNG
    assert sniff(PNG[:SNIFF_BYTES]) is not declared


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"%PDF",  # too short to be sure
        b" %PDF-1.7",  # not at offset 0
        b"%pdf-1.7",
        b"\xff\xd8",
        b"\xff\xd8\xfe",
        b"\x89PNG\r\n\x1a",  # one byte short
        b"\x89PNG\n\r\x1a\n",  # line endings mangled in transit
        b"GIF89a\x01\x00\x01\x00",
        b"PK\x03\x04\x14\x00\x06\x00",  # a .docx
        b"<html><body>%PDF-",
        b"MZ\x90\x00\x03\x00\x00\x00",
    ],
)
def test_anything_else_is_none(head: bytes) -> None:
    assert sniff(head) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\x\\a.pdf", "a.pdf"),
        ("..\\..\\Windows\\system.ini", "system.ini"),
        ("/abs/path/to/Giấy khai sinh.pdf", "Giấy khai sinh.pdf"),
        ("dir/sub\\mixed/ảnh.png", "ảnh.png"),
        ("a\x00b\r\nc\tD.pdf", "abcD.pdf"),
        ('say "hi" it\'s.pdf', "say hi its.pdf"),
        ("“Đơn” ‘xin’.pdf", "Đơn xin.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override dropped
        ("  Căn cước công dân.jpg  ", "Căn cước công dân.jpg"),
        ("Hồ sơ đăng ký kinh doanh - Nguyễn Văn Ánh.pdf", "Hồ sơ đăng ký kinh doanh - Nguyễn Văn Ánh.pdf"),
        (".hidden.pdf", ".hidden.pdf"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name, FileKind.PDF) == expected


@pytest.mark.parametrize("name", [None, "", "   ", "/", "dir/", "C:\\x\\", "..", ".", "../..", "\x00\x01", '""'])
def test_an_empty_name_becomes_tep_with_the_kind_extension(name: str | None) -> None:
    assert safe_filename(name, FileKind.PDF) == "tep.pdf"
    assert safe_filename(name, FileKind.JPEG) == "tep.jpg"
    assert safe_filename(name, FileKind.PNG) == "tep.png"


def test_names_are_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "Giấy chứng nhận quyền sử dụng đất.pdf")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    result = safe_filename(decomposed, FileKind.PDF)
    assert result == "Giấy chứng nhận quyền sử dụng đất.pdf"
    assert unicodedata.is_normalized("NFC", result)


def test_long_names_are_cut_to_200_characters_keeping_the_extension() -> None:
    name = "Tờ khai " + "ư" * 500 + ".pdf"
    result = safe_filename(name, FileKind.PDF)
    assert len(result) == 200
    assert result.startswith("Tờ khai ư") and result.endswith("ư.pdf")
    without_extension = safe_filename("x" * 300, FileKind.PDF)
    assert without_extension == "x" * 200


def test_a_name_of_exactly_200_characters_is_kept() -> None:
    name = "a" * 196 + ".pdf"
    assert safe_filename(name, FileKind.PDF) == name


def test_the_result_never_contains_a_separator_control_or_quote() -> None:
    nasty = "x/\"y'\\z\x7f\x1b[31m\u200b.pdf"
    result = safe_filename(nasty, FileKind.PDF)
    assert not any(c in result for c in "/\\\"'\x7f\x1b\u200b")
    assert result == "z[31m.pdf"


def test_inspect_reads_the_kind_size_and_digest_from_the_start_whatever_the_position() -> None:
    content = PNG + bytes(3 * 1024 * 1024)
    source = io.BytesIO(content)
    source.seek(100)
    assert inspect(source, len(content)) == (FileKind.PNG, len(content), hashlib.sha256(content).hexdigest())


def test_inspect_refuses_other_kinds_and_files_over_the_limit() -> None:
    with pytest.raises(UnsupportedFile, match="not a PDF, JPEG or PNG"):
        inspect(io.BytesIO(b"<html>%PDF-1.7</html>"), 1024)
    with pytest.raises(UnsupportedFile):
        inspect(io.BytesIO(b""), 1024)
    with pytest.raises(PayloadTooLarge, match="at most 16 bytes"):
        inspect(io.BytesIO(PDF), 16)
    with pytest.raises(PayloadTooLarge):
        inspect(io.BytesIO(PDF + bytes(2 * 1024 * 1024)), 1024 * 1024)


def test_an_unsupported_file_is_a_415_in_every_service() -> None:
    problem = problem_for(UnsupportedFile("x"))
    assert (problem.status, problem.type, problem.title) == (
        415, "unsupported-file-type", "Only PDF, JPEG and PNG files are accepted"
    )  # fmt: skip
    assert status_type(415) == "unsupported-media-type"  # a framework's own 415 is still that
