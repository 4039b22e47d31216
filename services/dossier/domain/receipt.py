"""The QR code printed on a dossier receipt (Circular 01/2023). Pure Python.

The Circular asks the receipt's QR code to carry at least the dossier code, the procedure code,
the applicant's identifier, the document's name, the system that issued it and the time. The
rules:

1. **The text is compact JSON with fixed keys**, the Vietnamese names the provincial systems
   read: ``ma_ho_so``, ``ma_tthc``, ``ma_dinh_danh``, ``ten_giay_to``, ``he_thong``,
   ``thoi_gian`` and, when the receipt can be looked up online, ``tra_cuu``. Keys are sorted and
   nothing is escaped that need not be (Vietnamese stays readable, and shorter), so the same
   receipt always gives the same text and the same image.
2. **The time is local**: ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh, the format the provinces use;
   a time without a time zone is refused rather than guessed.
3. **The image is a PNG** of a full QR code (never a Micro QR) with error correction level M and
   the standard quiet zone of 4 modules.
4. **The lookup secret** printed on the receipt is what the public lookup asks besides the code:
   10 random characters of Crockford's base32 (50 bits; digits and capitals without I, L, O, U,
   so nothing reads as something else), drawn by :mod:`secrets`, not derived from the
   applicant's identifier, shown as ``XXXXX-XXXXX``. Read back, case, dashes and spaces do not
   matter and O, I and L are read as 0, 1 and 1. The QR's lookup link carries it, so scanning
   the receipt opens the dossier's status.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from services.kit import qr
from services.kit.calendar import VIETNAM_TZ

QR_TIME_FORMAT = "%Y%m%d%H%M%S"
LOOKUP_SECRET_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # noqa: S105 - an alphabet (Crockford base32)
LOOKUP_SECRET_LENGTH = 10
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})


def new_lookup_secret() -> str:
    """A new receipt's lookup secret, as stored (no dash)."""
    return "".join(secrets.choice(LOOKUP_SECRET_ALPHABET) for _ in range(LOOKUP_SECRET_LENGTH))


def shown_lookup_secret(secret: str) -> str:
    """The secret as the receipt prints it: two groups of five."""
    half = LOOKUP_SECRET_LENGTH // 2
    return f"{secret[:half]}-{secret[half:]}"


def read_lookup_secret(text: str) -> str | None:
    """The secret a person typed, as stored; None when it cannot be one."""
    value = text.upper().translate(_READ_AS)
    if len(value) != LOOKUP_SECRET_LENGTH or any(c not in LOOKUP_SECRET_ALPHABET for c in value):
        return None
    return value


@dataclass(frozen=True)
class ReceiptQr:
    dossier_code: str
    procedure_code: str
    applicant_id: str
    document_name: str
    source_system: str
    issued_at: datetime  # timezone-aware
    lookup_url: str | None = None


def qr_text(qr: ReceiptQr) -> str:
    """The text encoded in the receipt's QR code."""
    if qr.issued_at.tzinfo is None or qr.issued_at.utcoffset() is None:
        raise ValueError("The receipt time must carry a time zone.")
    fields = {
        "ma_ho_so": qr.dossier_code,
        "ma_tthc": qr.procedure_code,
        "ma_dinh_danh": qr.applicant_id,
        "ten_giay_to": qr.document_name,
        "he_thong": qr.source_system,
        "thoi_gian": qr.issued_at.astimezone(VIETNAM_TZ).strftime(QR_TIME_FORMAT),
    }
    if qr.lookup_url is not None:
        fields["tra_cuu"] = qr.lookup_url
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def qr_png(text: str, *, scale: int = 4) -> bytes:
    """A PNG of the QR code of ``text``, each module ``scale`` pixels wide (``kit.qr``)."""
    return qr.png(text, scale=scale)
