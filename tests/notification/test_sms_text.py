"""Brand-name SMS text: the counts carriers bill by, Vietnamese folded to plain Latin, the limit
on parts and the sender's rules, pinned by examples."""

from __future__ import annotations

import pytest

from services.notification.domain.sms import (
    MAX_PARTS,
    SmsParts,
    SmsTextError,
    SmsTooLong,
    check_sender,
    is_gsm7,
    measure,
    parts,
    plain_latin,
)

# --- counting ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, SmsParts("GSM-7", 160, 1)),
        ("a" * 161, SmsParts("GSM-7", 161, 2)),
        ("a" * 306, SmsParts("GSM-7", 306, 2)),
        ("a" * 307, SmsParts("GSM-7", 307, 3)),
        ("€" * 80, SmsParts("GSM-7", 160, 1)),  # the extension table counts 2
        ("a" * 159 + "{", SmsParts("GSM-7", 161, 2)),
        ("Ho so so 000.00.01.H22-260001 da duoc tiep nhan.", SmsParts("GSM-7", 48, 1)),
        ("ă" * 70, SmsParts("UCS-2", 70, 1)),
        ("ă" * 71, SmsParts("UCS-2", 71, 2)),
        ("ă" * 134, SmsParts("UCS-2", 134, 2)),
        ("ă" * 135, SmsParts("UCS-2", 135, 3)),
        ("a" * 69 + "ă", SmsParts("UCS-2", 70, 1)),  # one character outside GSM-7 makes all UCS-2
        ("👋" * 35, SmsParts("UCS-2", 70, 1)),  # UTF-16 code units: an emoji counts 2
        ("👋" * 35 + "a", SmsParts("UCS-2", 71, 2)),
    ],
)
def test_parts_are_counted_as_carriers_bill_them(text: str, expected: SmsParts) -> None:
    assert parts(text) == expected


def test_a_two_septet_character_is_never_cut_between_parts() -> None:
    # 152 septets then '€': the escape and its character do not both fit in the first part.
    assert measure("a" * 152 + "€" + "a" * 9) == SmsParts("GSM-7", 163, 2)
    assert measure("a" * 152 + "€" + "a" * 153) == SmsParts("GSM-7", 307, 3)
    assert measure("a" * 153 + "€" + "a" * 151) == SmsParts("GSM-7", 306, 2)
    # Likewise an emoji's surrogate pair in UCS-2.
    assert measure("ă" * 66 + "👋" + "ă" * 67) == SmsParts("UCS-2", 135, 3)
    assert measure("ă" * 67 + "👋" + "ă" * 65) == SmsParts("UCS-2", 134, 2)


def test_unicode_forced_counts_a_gsm_text_as_ucs2() -> None:
    assert measure("a" * 71, unicode=True) == SmsParts("UCS-2", 71, 2)


def test_more_than_max_parts_is_refused_without_repeating_the_text() -> None:
    longest = "a" * (153 * MAX_PARTS)
    assert parts(longest).parts == MAX_PARTS
    with pytest.raises(SmsTooLong) as refused:
        parts(longest + "b")
    assert refused.value.counted == SmsParts("GSM-7", 153 * MAX_PARTS + 1, MAX_PARTS + 1)
    assert "aaaa" not in str(refused.value) and str(MAX_PARTS) in str(refused.value)
    with pytest.raises(SmsTooLong):
        parts("ă" * (67 * MAX_PARTS + 1))


def test_an_empty_text_is_refused() -> None:
    with pytest.raises(SmsTextError):
        parts("")


# --- plain Latin -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("Hồ sơ của bạn đã được tiếp nhận", "Ho so cua ban da duoc tiep nhan"),
        ("ĐỀ NGHỊ BỔ SUNG HỒ SƠ", "DE NGHI BO SUNG HO SO"),
        ("Đà Nẵng, Thừa Thiên Huế", "Da Nang, Thua Thien Hue"),
        ("ươ ƯƠ ă Ă â ê ô ỹ Ỵ", "uo UO a A a e o y Y"),
        # The same text decomposed (NFD) folds the same.
        ("Ho\u0302\u0300 so\u031b", "Ho so"),
        ("“Kết quả” – sẵn sàng…", '"Ket qua" - san sang...'),
        ("Phí: 50.000₫\u00a0(đã nộp)", "Phi: 50.000d (da nop)"),
        ("Mã {ABC} [1] ~ € | ^ \\", "Ma {ABC} [1] ~ € | ^ \\"),  # the extension table is GSM-7
        ("Xin chào 👋❤️", "Xin chao ??"),
        ("ﬁle Ａ²\tx", "file A2 x"),
        ("line\nbreak", "line\nbreak"),
    ],
)
def test_plain_latin_folds_vietnamese_and_keeps_gsm7(text: str, plain: str) -> None:
    assert plain_latin(text) == plain
    assert is_gsm7(plain_latin(text))


def test_a_folded_vietnamese_text_goes_in_fewer_parts() -> None:
    text = "Hồ sơ 000.00.01.H22-260001 của ông/bà đã có kết quả. Mời ông/bà đến nhận tại Bộ phận một cửa."
    assert parts(text).encoding == "UCS-2" and parts(text).parts == 2
    assert parts(plain_latin(text)) == SmsParts("GSM-7", len(text), 1)


# --- sender ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sender", ["DVCQG", "DichVuCong", "A", "Bo.Y-Te_1", "UBND HN", "X" * 11])
def test_a_brand_name_is_accepted(sender: str) -> None:
    assert check_sender(sender) == sender


@pytest.mark.parametrize("sender", ["", "X" * 12, "Dịch vụ", "DVC!", "12345", "   ", "DVC\n"])
def test_a_bad_brand_name_is_refused(sender: str) -> None:
    with pytest.raises(SmsTextError, match="1-11 characters"):
        check_sender(sender)
