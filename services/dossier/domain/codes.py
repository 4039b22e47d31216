"""Dossier codes (Decree 61/2018, art. 26). Pure Python.

A dossier code is the receiving agency's code, the date of receipt and that day's sequence
number at that agency, joined by hyphens: ``H15.50-251203-2035``. The rules:

1. The agency code is the catalogue's (letters, digits and dots, at most 40: ``000.00.01.H22``).
2. The date is written ``yymmdd`` and read back in this century, so only years 2000-2099 are
   written (a code must read back as the date it was made with).
3. The sequence starts at 1 and is written with at least 4 digits (``0001``); past 9999 it simply
   grows (``12345``). A longer sequence with leading zeros is not a code this module writes, so
   it is not read either: every code has exactly one spelling.
4. A code is at most :data:`DOSSIER_CODE_MAX_LENGTH` characters (the column's size).
"""

from __future__ import annotations

import re
from datetime import date

DOSSIER_CODE_MAX_LENGTH = 64

_AGENCY = re.compile(r"[0-9A-Za-z.]{1,40}")
_CODE = re.compile(r"(?P<agency>[0-9A-Za-z.]{1,40})-(?P<day>[0-9]{6})-(?P<sequence>[0-9]{4}|[1-9][0-9]{4,})")


def dossier_code(agency_code: str, day: date, sequence: int) -> str:
    """The code of the ``sequence``-th dossier received by ``agency_code`` on ``day``."""
    if not isinstance(agency_code, str) or not _AGENCY.fullmatch(agency_code):
        raise ValueError(f"Agency code {agency_code!r} is not 1-40 letters, digits and dots.")
    if not 2000 <= day.year <= 2099:
        raise ValueError(f"A dossier code dates only from 2000 to 2099, not {day.isoformat()}.")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise ValueError(f"The sequence is a whole number from 1, not {sequence!r}.")
    code = f"{agency_code}-{day:%y%m%d}-{sequence:04d}"
    if len(code) > DOSSIER_CODE_MAX_LENGTH:
        raise ValueError(f"Dossier code {code!r} is longer than {DOSSIER_CODE_MAX_LENGTH} characters.")
    return code


def parse_dossier_code(code: str) -> tuple[str, date, int]:
    """``(agency_code, day, sequence)`` of a dossier code; ValueError when it is not one."""
    if not isinstance(code, str) or len(code) > DOSSIER_CODE_MAX_LENGTH:
        raise ValueError("Not a dossier code.")
    match = _CODE.fullmatch(code)
    if match is None:
        raise ValueError(f"{code!r} is not a dossier code (agency-yymmdd-sequence).")
    digits = match["day"]
    try:
        day = date(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:]))
    except ValueError:
        raise ValueError(f"{code!r} does not carry a valid date.") from None
    sequence = int(match["sequence"])
    if sequence < 1:
        raise ValueError(f"{code!r} has no sequence number (it starts at 1).")
    return match["agency"], day, sequence
