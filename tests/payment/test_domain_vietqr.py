"""VietQR: payloads read back by an independent decoder from PyPI (vietnam-qr-pay), checksums against
an independent CRC library (crccheck), and the fields, limits and image."""

from __future__ import annotations

import pytest
from crccheck.crc import Crc16CcittFalse
from vietnam_qr_pay import QRPay

from services.payment.domain import vietqr

BIN = "970436"  # Vietcombank
ACCOUNT = "0011004123456"
REF = "DVC25120300000042"


def make(**overrides: object) -> str:
    values: dict[str, object] = {"bank_bin": BIN, "account": ACCOUNT, "amount_vnd": 150_000, "reference": REF}
    values.update(overrides)
    return vietqr.payload(**values)  # type: ignore[arg-type]


# CRC


def test_the_crc_check_value() -> None:
    # The catalogued check value of CRC-16/CCITT-FALSE (CRC-16/IBM-3740).
    assert vietqr.crc16_ccitt_false(b"123456789") == 0x29B1


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff" * 7, b"000201010212", bytes(range(256))])
def test_the_crc_matches_crccheck(data: bytes) -> None:
    assert vietqr.crc16_ccitt_false(data) == Crc16CcittFalse.calc(data)


def test_the_payload_checksum_matches_crccheck() -> None:
    text = make()
    assert text[-8:-4] == "6304"
    assert text[-4:] == f"{Crc16CcittFalse.calc(text[:-4].encode()):04X}"


# TLV


def test_tlv() -> None:
    assert vietqr.tlv("00", "01") == "000201"
    assert vietqr.tlv("62", "x" * 99) == "6299" + "x" * 99
    assert vietqr.tlv("59", "NGUYEN VAN A") == "5912NGUYEN VAN A"


@pytest.mark.parametrize(
    ("tag", "value"), [("0", "x"), ("000", "x"), ("ab", "x"), ("5 ", "x"), ("62", "x" * 100), ("01", "")]
)
def test_bad_tlv_is_refused(tag: str, value: str) -> None:
    with pytest.raises(ValueError):
        vietqr.tlv(tag, value)


# The payload


def test_a_payload_is_read_by_the_independent_decoder() -> None:
    qr = QRPay(make(merchant_name="SO TU PHAP HA NOI", city="HA NOI", purpose="DVC25120300000042 nop phi"))
    assert qr.is_valid
    assert qr.version == "01"
    assert qr.init_method == "12"
    assert qr.provider.guid == "A000000727"
    assert qr.provider.service == "QRIBFTTA"
    assert qr.consumer.bank_bin == BIN
    assert qr.consumer.bank_number == ACCOUNT
    assert qr.currency == "704"
    assert qr.amount == "150000"
    assert qr.nation == "VN"
    assert qr.merchant.name == "SO TU PHAP HA NOI"
    assert qr.city == "HA NOI"
    assert qr.additional_data.bill_number == REF
    assert qr.additional_data.purpose == "DVC25120300000042 nop phi"


def test_the_independent_decoder_refuses_a_changed_payload() -> None:
    text = make()
    assert not QRPay(text.replace("150000", "950000")).is_valid


def test_the_exact_text() -> None:
    body = (
        "000201"
        "010212"
        "3857" + "0010A000000727" + "0127" + "0006970436" + "0113" + ACCOUNT + "0208QRIBFTTA"
        "5303704"
        "5406150000"
        "5802VN"
        "6221" + "0117" + REF + "6304"
    )
    assert make() == body + f"{Crc16CcittFalse.calc(body.encode()):04X}"


def test_without_an_amount_the_payload_is_static() -> None:
    text = make(amount_vnd=None)
    fields = vietqr.parse(text)
    assert fields["01"] == "11"
    assert "54" not in fields
    qr = QRPay(text)
    assert qr.is_valid and qr.init_method == "11" and qr.amount is None


def test_to_a_card() -> None:
    qr = QRPay(make(account="9704366612345678", to_card=True))
    assert qr.is_valid and qr.provider.service == "QRIBFTTC" and qr.consumer.bank_number == "9704366612345678"


def test_parse_reads_back_every_field() -> None:
    text = make(merchant_name="UBND PHUONG BA DINH", city="HA NOI", purpose="Nop phi")
    assert vietqr.parse(text) == {
        "00": "01",
        "01": "12",
        "38": {"00": "A000000727", "01": {"00": BIN, "01": ACCOUNT}, "02": "QRIBFTTA"},
        "53": "704",
        "54": "150000",
        "58": "VN",
        "59": "UBND PHUONG BA DINH",
        "60": "HA NOI",
        "62": {"01": REF, "08": "Nop phi"},
        "63": text[-4:],
    }


def test_optional_fields_are_left_out() -> None:
    fields = vietqr.parse(make())
    assert "59" not in fields and "60" not in fields
    assert fields["62"] == {"01": REF}


def test_every_changed_character_breaks_parse() -> None:
    text = make(merchant_name="SO TU PHAP", purpose="Nop phi")
    for i in range(len(text)):
        for replacement in {"0", "A", "9"} - {text[i]}:
            changed = text[:i] + replacement + text[i + 1 :]
            with pytest.raises(ValueError):
                vietqr.parse(changed)


def test_a_lower_case_checksum_is_read() -> None:
    text = make()
    assert vietqr.parse(text[:-4] + text[-4:].lower())["54"] == "150000"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "000201",
        "0002016304ABCD",  # wrong checksum
        "00020163",  # cut short
    ],
)
def test_broken_payloads_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        vietqr.parse(text)


def test_a_payload_whose_fields_do_not_fit_is_refused_even_with_a_good_checksum() -> None:
    for body in ("000501" + "6304", "0002016204010X" + "6304", "000201000201" + "6304", "630400000002016304"):
        text = body + f"{Crc16CcittFalse.calc(body.encode()):04X}"
        with pytest.raises(ValueError):
            vietqr.parse(text)


@pytest.mark.parametrize(
    "overrides",
    [
        {"bank_bin": "97043"},
        {"bank_bin": "9704360"},
        {"bank_bin": "97043A"},
        {"account": ""},
        {"account": "0" * 20},
        {"account": "0011-004"},
        {"amount_vnd": 0},
        {"amount_vnd": -1},
        {"amount_vnd": 1.5},
        {"amount_vnd": "150000"},
        {"amount_vnd": True},
        {"reference": ""},
        {"reference": "A" * 26},
        {"reference": "DVC-1"},
        {"reference": "DVC 1"},
        {"merchant_name": "Sở Tư pháp"},
        {"merchant_name": "N" * 26},
        {"merchant_name": ""},
        {"city": "Hà Nội"},
        {"city": "C" * 16},
        {"purpose": "nộp phí"},
        {"purpose": "P" * 26},
        {"purpose": "line\nbreak"},
    ],
)
def test_bad_inputs_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make(**overrides)


def test_the_limits_themselves_are_accepted() -> None:
    text = make(account="A" * 19, reference="R" * 25, merchant_name="N" * 25, city="C" * 15, purpose="P" * 25)
    qr = QRPay(text)
    assert qr.is_valid and qr.additional_data.bill_number == "R" * 25 and qr.consumer.bank_number == "A" * 19


# The image


def test_the_image_is_a_png() -> None:
    image = vietqr.png(make())
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(vietqr.png(make(), scale=2)) < len(image)


@pytest.mark.parametrize("scale", [0, -1, 1.5, True])
def test_a_bad_scale_is_refused(scale: object) -> None:
    with pytest.raises(ValueError):
        vietqr.png(make(), scale=scale)  # type: ignore[arg-type]
