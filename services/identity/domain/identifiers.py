"""The identifiers people and organisations sign in with, validated and normalised.

- Personal identification number (số định danh cá nhân, the number on the chip-based citizen
  ID card, Circular 59/2021/TT-BCA): 12 digits ``PPP G YY NNNNNN``:
  ``PPP`` the code of the province where the birth was registered (one of the 63 codes
  001–096), ``G`` the century and sex (0/1: 1900s male/female, 2/3: 2000s,
  4/5: 2100s, 6/7: 2200s, 8/9: 2300s), ``YY`` the last two digits of the year of birth,
  ``NNNNNN`` a random sequence (the codes are ``services.kit.schemas.PROVINCE_CODES``, which the
  document's pattern lists). What is checked: digits only, length, a known province code,
  and — when the date of birth is known — that century and year agree with it. The sex digit
  cannot be checked (the portal does not ask for sex), nor the random part.
- Tax code (mã số thuế) of an enterprise: 10 digits whose last is a check digit
  (``10 - (31·d1 + 29·d2 + 23·d3 + 19·d4 + 17·d5 + 13·d6 + 7·d7 + 5·d8 + 3·d9) mod 11``; a
  remainder giving 10 has no valid code), or 13 characters ``NNNNNNNNNN-NNN`` for a branch
  (the 10-digit parent code, then a branch number 001–999).
- Vietnamese mobile number: ``0`` or ``+84``/``84`` then 9 digits starting with 3, 5, 7, 8
  or 9 (the mobile ranges since the 2018 renumbering), in a range allocated to an operator (the
  ``phonenumbers`` numbering plan, region VN); stored as E.164 ``+84xxxxxxxxx``.
- Agency code (mã định danh cơ quan, Decision 20/2020/QĐ-TTg), as observed: ``000.00.01.H22``.
- Username of officials and administrators: lower-case letters, digits, ``.``, ``_``, ``-``;
  starts with a letter, so it never looks like a number-based identifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from services.kit.schemas import PROVINCE_CODES as PERSONAL_ID_PROVINCES
from services.kit.schemas import InvalidPhone, vietnamese_phone
from services.kit.schemas import tax_code_check_digit as tax_code_check_digit  # the check, shared with the document

PROVINCE_CODES = frozenset(PERSONAL_ID_PROVINCES)

_DIGITS12 = re.compile(r"\d{12}")
_TAX10 = re.compile(r"\d{10}")
_TAX13 = re.compile(r"(\d{10})-(\d{3})")
_AGENCY = re.compile(r"\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}")
_USERNAME = re.compile(r"[a-z][a-z0-9._-]{2,63}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+")


class InvalidIdentifier(ValueError):
    """An identifier that does not follow its scheme; the message says which rule failed."""


def personal_id(value: str, birth_date: date | None = None) -> str:
    """A valid 12-digit personal identification number, or :class:`InvalidIdentifier`."""
    value = value.strip()
    if not _DIGITS12.fullmatch(value):
        raise InvalidIdentifier("A personal identification number is exactly 12 digits.")
    if value[:3] not in PROVINCE_CODES:
        raise InvalidIdentifier(f"{value[:3]} is not a province code of a personal identification number.")
    if birth_date is not None:
        century = 1900 + 100 * (int(value[3]) // 2)
        if century + int(value[4:6]) != birth_date.year:
            raise InvalidIdentifier(
                "The century digit and the year digits of the personal identification number "
                "do not match the date of birth."
            )
    return value


def birth_year(personal_id_value: str) -> int:
    """The year of birth encoded in a valid personal identification number."""
    return 1900 + 100 * (int(personal_id_value[3]) // 2) + int(personal_id_value[4:6])


def tax_code(value: str) -> str:
    """A valid enterprise tax code (10 digits, or ``NNNNNNNNNN-NNN`` for a branch)."""
    value = value.strip()
    branch = _TAX13.fullmatch(value)
    parent = branch.group(1) if branch else value
    if not (branch or _TAX10.fullmatch(value)):
        raise InvalidIdentifier("A tax code is 10 digits, or 10 digits, a hyphen and a 3-digit branch number.")
    if branch and branch.group(2) == "000":
        raise InvalidIdentifier("A branch number of a tax code goes from 001 to 999.")
    if tax_code_check_digit(parent[:9]) != int(parent[9]):
        raise InvalidIdentifier("The check digit of the tax code is not correct.")
    return value


def phone(value: str) -> str:
    """A Vietnamese mobile number in an allocated range, in E.164 form (``+84912345678``)."""
    try:
        return vietnamese_phone(value.strip(), mobile=True)
    except InvalidPhone:
        raise InvalidIdentifier(
            "A mobile number is 0 or +84 followed by 9 digits starting with 3, 5, 7, 8 or 9, "
            "in a range allocated to a Vietnamese operator."
        ) from None


def agency_code(value: str) -> str:
    value = value.strip()
    if not _AGENCY.fullmatch(value):
        raise InvalidIdentifier("An agency code looks like 000.00.01.H22.")
    return value


def username(value: str) -> str:
    value = value.strip().lower()
    if not _USERNAME.fullmatch(value):
        raise InvalidIdentifier(
            "A username is 3 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter."
        )
    return value


def email(value: str) -> str:
    """A plausible e-mail address (the domain part lower-cased); delivery proves the rest."""
    value = value.strip()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise InvalidIdentifier("The e-mail address is not valid.")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


class LoginKind(StrEnum):
    PERSONAL_ID = "personal_id"
    TAX_CODE = "tax_code"
    PHONE = "phone"
    USERNAME = "username"


@dataclass(frozen=True)
class LoginCandidate:
    kind: LoginKind
    value: str


def login_candidates(login: str) -> list[LoginCandidate]:
    """What a login may be, most specific first. A 10-digit value can be both a tax code and a
    mobile number: both are tried, the tax code first."""
    login = login.strip()
    found: list[LoginCandidate] = []
    for kind, parse in (
        (LoginKind.PERSONAL_ID, personal_id),
        (LoginKind.TAX_CODE, tax_code),
        (LoginKind.USERNAME, username),
        (LoginKind.PHONE, phone),
    ):
        try:
            found.append(LoginCandidate(kind, parse(login)))
        except InvalidIdentifier:
            continue
    return found
