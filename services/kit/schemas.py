"""Base classes for request and response bodies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# Bound on any string in a request body unless a field says otherwise.
MAX_STRING = 10_000
# Characters no text column can hold: NUL (PostgreSQL refuses it in text and in jsonb) and lone
# UTF-16 surrogates (JSON may spell them, ``\ud800``; they have no UTF-8 form).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_at(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where in ``value`` (a parsed JSON document) a string holds a character that cannot be
    stored, or None. Keys are checked as well as values."""
    if isinstance(value, str):
        return path if _UNSTORABLE.search(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and _UNSTORABLE.search(key):
                return (*path, "<key>")
            if (found := unstorable_at(item, (*path, str(key)))) is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if (found := unstorable_at(item, (*path, str(index)))) is not None:
                return found
    return None


class StrictModel(BaseModel):
    """A request body: unknown fields are refused, strings are bounded and stripped, and no
    string anywhere in it (free-form JSON included) holds a character that cannot be stored."""

    model_config = ConfigDict(extra="forbid", str_max_length=MAX_STRING, str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if (where := unstorable_at(value)) is not None:
            inside = f" (at {'.'.join(where)})" if where else ""
            raise ValueError(f"NUL characters and lone surrogates are not allowed{inside}")
        return value


# --- identifiers of people and enterprises, as request fields ------------------------------
# Each type states its syntax in the OpenAPI document (pattern, lengths), so that generated
# clients check it before they send; the server enforces the same, and the services add what a
# pattern cannot say (a phone number's allocation, a tax code's check digit, a province code).

# A Vietnamese phone number as people write it: 0, 84 or +84, then the national number, its
# digits optionally grouped by single spaces, dots or hyphens.
PHONE_PATTERN = r"^(\+84|84|0)[ .-]?[1-9]([ .-]?[0-9]){7,9}$"
# A mobile number: the national number is 9 digits starting with 3, 5, 7, 8 or 9 (the mobile
# ranges since the 2018 renumbering).
MOBILE_PATTERN = r"^(\+84|84|0)[ .-]?[35789]([ .-]?[0-9]){8}$"
# Personal identification number (số định danh cá nhân): 12 digits.
PERSONAL_ID_PATTERN = r"^[0-9]{12}$"
# Tax code (mã số thuế): 10 digits, or 10 digits, a hyphen and a 3-digit branch number.
TAX_CODE_PATTERN = r"^[0-9]{10}(-[0-9]{3})?$"


class InvalidPhone(ValueError):
    """Not a phone number allocated in Vietnam (or not a mobile one where a mobile is needed)."""


def vietnamese_phone(value: str, *, mobile: bool = False) -> str:
    """``value`` in E.164 form (``+84912345678``) when it is a number allocated in Vietnam (a
    mobile number when ``mobile``), by the ``phonenumbers`` numbering plan; else :class:`InvalidPhone`."""
    import phonenumbers

    try:
        number = phonenumbers.parse(value, "VN")
    except phonenumbers.NumberParseException:
        raise InvalidPhone("This is not a phone number.") from None
    if number.extension or not phonenumbers.is_valid_number_for_region(number, "VN"):
        raise InvalidPhone("This is not a phone number allocated in Vietnam.")
    kinds = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
    if mobile and phonenumbers.number_type(number) not in kinds:
        raise InvalidPhone("This is not a Vietnamese mobile number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone(value: str) -> str:
    return vietnamese_phone(value)


def _mobile(value: str) -> str:
    return vietnamese_phone(value, mobile=True)


VietnamesePhone = Annotated[
    str,
    Field(
        pattern=PHONE_PATTERN, min_length=9, max_length=20, examples=["0912345678", "+84 24 3825 1234"],
        description="A phone number allocated in Vietnam: 0, 84 or +84 then the national number. "
        "Stored in E.164 form (+84…).",
    ),
    AfterValidator(_phone),
]  # fmt: skip
VietnameseMobile = Annotated[
    str,
    Field(
        pattern=MOBILE_PATTERN, min_length=10, max_length=20, examples=["0912345678", "+84912345678"],
        description="A Vietnamese mobile number allocated to an operator: 0, 84 or +84 then 9 digits "
        "starting with 3, 5, 7, 8 or 9. Stored in E.164 form (+84…).",
    ),
    AfterValidator(_mobile),
]  # fmt: skip
PersonalId = Annotated[
    str,
    Field(
        pattern=PERSONAL_ID_PATTERN, min_length=12, max_length=12, examples=["001099012345"],
        description="12-digit personal identification number (số định danh cá nhân).",
    ),
]  # fmt: skip
TaxCode = Annotated[
    str,
    Field(
        pattern=TAX_CODE_PATTERN, min_length=10, max_length=14, examples=["0101234565", "0101234565-001"],
        description="Tax code (mã số thuế): 10 digits, or NNNNNNNNNN-NNN for a branch.",
    ),
]  # fmt: skip
# A person's or an organisation's name: not empty once surrounding spaces are dropped.
Name = Annotated[str, Field(min_length=1, max_length=200, examples=["Nguyễn Văn An"])]
