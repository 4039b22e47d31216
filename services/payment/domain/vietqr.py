"""VietQR (NAPAS): the EMVCo merchant-presented QR payload a citizen scans in a banking app. Pure Python.

A payload is a run of fields ``ID(2) LEN(2) VALUE``, some of which hold fields of their own. The
rules:

1. **The fields, in order**: ``00``=``01`` (payload format), ``01``=``12`` for a payload with an
   amount (dynamic, used once) or ``11`` without one (static); ``38`` the beneficiary: ``00`` the
   NAPAS identifier ``A000000727``, ``01`` {``00`` the bank's 6-digit BIN, ``01`` the account or
   card number}, ``02`` the service ``QRIBFTTA`` (to an account) or ``QRIBFTTC`` (to a card);
   ``53``=``704`` (VND); ``54`` the amount; ``58``=``VN``; ``59`` the beneficiary's name and ``60``
   the city when given; ``62`` additional data: ``01`` the bill number (the order reference) and
   ``08`` the purpose when given; last ``63``, the checksum.
2. **The checksum** is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection,
   no final XOR) over everything before it including ``6304``, as 4 upper-case hex digits.
3. **Amounts are whole dong**, written as digits only (no separator, no decimals).
4. **Only plain ASCII goes in.** Lengths count characters and banking apps differ on anything else,
   so the name, city and purpose are printable ASCII (Vietnamese without its marks), within the
   EMVCo limits (name 25, city 15, purpose 25); the reference is 1–25 ASCII letters and digits, and
   the account 1–19.
5. **The purpose is what most banking apps copy into the transfer's description**, which is what a
   bank statement shows: callers that want the statement to be matched to the order put the
   reference in the purpose as well (``"DVC25120300000042 nop phi"``).
6. **A payload read back** (:func:`parse`) must carry a correct checksum as its last field and
   well-formed fields throughout; anything else is a ValueError.
"""

from __future__ import annotations

import re

from services.kit import qr

NAPAS_GUID = "A000000727"
SERVICE_TO_ACCOUNT = "QRIBFTTA"
SERVICE_TO_CARD = "QRIBFTTC"
CURRENCY_VND = "704"
COUNTRY_VN = "VN"
CRC_TAG = "6304"

# Fields whose values are themselves fields, and, inside those, the ones that are too.
_NESTED_ROOT = frozenset({"38", "62"})
_NESTED_IN = {"38": frozenset({"01"})}

_TAG = re.compile(r"[0-9]{2}")
_BIN = re.compile(r"[0-9]{6}")
_ACCOUNT = re.compile(r"[A-Za-z0-9]{1,19}")
_REFERENCE = re.compile(r"[A-Za-z0-9]{1,25}")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data``: polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def tlv(tag: str, value: str) -> str:
    """One field: the 2-digit ``tag``, the value's length on 2 digits, the value. ValueError for a
    tag that is not 2 digits or a value that is empty or longer than 99 characters."""
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise ValueError(f"A field tag is 2 digits, not {tag!r}.")
    if not isinstance(value, str) or not 1 <= len(value) <= 99:
        raise ValueError(f"Field {tag} holds a text of 1 to 99 characters, not {value!r}.")
    return f"{tag}{len(value):02d}{value}"


def _text(name: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or not _PRINTABLE_ASCII.fullmatch(value) or len(value) > limit:
        raise ValueError(f"The {name} is 1 to {limit} printable ASCII characters (no diacritics), not {value!r}.")
    return value


def payload(
    *,
    bank_bin: str,
    account: str,
    amount_vnd: int | None,
    reference: str,
    merchant_name: str | None = None,
    city: str | None = None,
    purpose: str | None = None,
    to_card: bool = False,
) -> str:
    """The VietQR text asking for ``amount_vnd`` dong (None: the payer types it) to ``account`` at the
    bank ``bank_bin``, with ``reference`` as the bill number. ValueError for inputs outside rule 4."""
    if not isinstance(bank_bin, str) or not _BIN.fullmatch(bank_bin):
        raise ValueError(f"A bank BIN is 6 digits, not {bank_bin!r}.")
    if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
        raise ValueError(f"An account or card number is 1 to 19 ASCII letters and digits, not {account!r}.")
    if amount_vnd is not None and (isinstance(amount_vnd, bool) or not isinstance(amount_vnd, int) or amount_vnd <= 0):
        raise ValueError(f"The amount is a positive whole number of dong, not {amount_vnd!r}.")
    if not isinstance(reference, str) or not _REFERENCE.fullmatch(reference):
        raise ValueError(f"The reference is 1 to 25 ASCII letters and digits, not {reference!r}.")

    beneficiary = tlv("00", bank_bin) + tlv("01", account)
    service = SERVICE_TO_CARD if to_card else SERVICE_TO_ACCOUNT
    merchant = tlv("00", NAPAS_GUID) + tlv("01", beneficiary) + tlv("02", service)
    additional = tlv("01", reference)
    if purpose is not None:
        additional += tlv("08", _text("purpose", purpose, 25))

    text = (
        tlv("00", "01")
        + tlv("01", "11" if amount_vnd is None else "12")
        + tlv("38", merchant)
        + tlv("53", CURRENCY_VND)
    )
    if amount_vnd is not None:
        text += tlv("54", str(amount_vnd))
    text += tlv("58", COUNTRY_VN)
    if merchant_name is not None:
        text += tlv("59", _text("beneficiary's name", merchant_name, 25))
    if city is not None:
        text += tlv("60", _text("city", city, 15))
    text += tlv("62", additional) + CRC_TAG
    return text + f"{crc16_ccitt_false(text.encode('ascii')):04X}"


def _fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    at = 0
    while at < len(text):
        tag, length = text[at : at + 2], text[at + 2 : at + 4]
        if not _TAG.fullmatch(tag) or not _TAG.fullmatch(length):
            raise ValueError(f"Malformed field at position {at}: {text[at : at + 4]!r}.")
        end = at + 4 + int(length)
        if int(length) == 0 or end > len(text):
            raise ValueError(f"Field {tag} at position {at} has a length of {length} that does not fit.")
        if tag in fields:
            raise ValueError(f"Field {tag} appears twice.")
        fields[tag] = text[at + 4 : end]
        at = end
    return fields


def parse(text: str) -> dict[str, str | dict[str, str | dict[str, str]]]:
    """The fields of a VietQR payload, ``38`` (with its ``01``) and ``62`` decoded into dicts of
    their own. ValueError when the checksum is missing, not last or wrong, or a field is malformed."""
    if not isinstance(text, str) or not text.isascii() or len(text) < 8:
        raise ValueError("A VietQR payload is ASCII text ending with its checksum.")
    if text[-8:-4] != CRC_TAG or not _HEX4.fullmatch(text[-4:]):
        raise ValueError("A VietQR payload ends with its checksum field 6304XXXX.")
    expected = crc16_ccitt_false(text[:-4].encode("ascii"))
    if int(text[-4:], 16) != expected:
        raise ValueError(f"Bad checksum: the payload says {text[-4:].upper()}, its content gives {expected:04X}.")
    root = _fields(text)
    if list(root)[-1] != "63":
        raise ValueError("The checksum field 63 is not the payload's last field.")
    decoded: dict[str, str | dict[str, str | dict[str, str]]] = {}
    for tag, value in root.items():
        if tag in _NESTED_ROOT:
            inner: dict[str, str | dict[str, str]] = {}
            for sub, sub_value in _fields(value).items():
                inner[sub] = _fields(sub_value) if sub in _NESTED_IN.get(tag, ()) else sub_value
            decoded[tag] = inner
        else:
            decoded[tag] = value
    return decoded


def png(text: str, *, scale: int = 6) -> bytes:
    """A PNG of the QR code of ``text``, each module ``scale`` pixels wide (``kit.qr``)."""
    return qr.png(text, scale=scale)
