"""Base classes for request and response bodies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

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


def _trimmed(value: Any) -> Any:
    """``value`` (a field's validated value) with the whitespace around its text dropped: a string,
    or each string of a list or tuple of them. Free-form JSON (a mapping), enumerations and models
    are left as they are."""
    if type(value) is str:
        return value.strip()
    if type(value) in (list, tuple) and any(type(item) is str for item in value):
        return type(value)(item.strip() if type(item) is str else item for item in value)
    return value


@dataclass(frozen=True, slots=True)
class Verbatim:
    """A field annotation: :class:`StrictModel` keeps this text exactly as sent (a password: the
    spaces around it are part of it)."""


class StrictModel(BaseModel):
    """A request body: unknown fields are refused, strings are bounded, no string anywhere in it
    (free-form JSON included) holds a character that cannot be stored, and text fields are
    stripped of surrounding whitespace (but those marked :class:`Verbatim`).

    Lengths (``maxLength``, ``minLength``, ``str_max_length``) and patterns apply to the text as
    sent, which is what the OpenAPI document states and a client checks; the whitespace around it is
    dropped after. A field that must hold more than whitespace says so with :class:`NotBlank`, which
    the document states too (a pattern)."""

    model_config = ConfigDict(extra="forbid", str_max_length=MAX_STRING)
    # The fields whose text is trimmed once validated (all but those marked Verbatim), found once
    # per class: one pass over the model, cheaper than a validator around every field.
    _trimmed_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._trimmed_fields = tuple(
            name for name, field in cls.model_fields.items() if not any(isinstance(m, Verbatim) for m in field.metadata)
        )

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if (where := unstorable_at(value)) is not None:
            inside = f" (at {'.'.join(where)})" if where else ""
            raise ValueError(f"NUL characters and lone surrogates are not allowed{inside}")
        return value

    @model_validator(mode="after")
    def _trim_text(self) -> Self:
        values = self.__dict__
        for name in self._trimmed_fields:
            value = values[name]
            if (trimmed := _trimmed(value)) is not value:
                values[name] = trimmed
        return self


# What ``str.strip()`` drops (``str.isspace``), spelled out so that a pattern says the same in
# every regular-expression dialect (ECMA-262's ``\s`` and Python's differ).
WHITESPACE = r"\t\n\u000B\u000C\r\u001C-\u001F \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
#: The characters no request string may hold (NUL and lone surrogates), as a pattern's class.
NOT_STORABLE = r"\u0000\uD800-\uDFFF"
#: Text holding at least one character besides whitespace. The service's document states it with the
#: rule of every request string (no NUL or lone surrogate) as one pattern, ``kit.openapi``.
NOT_BLANK_TEXT = f"[^{WHITESPACE}]"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("string_blank", "Text must hold more than whitespace")
    return value


@dataclass(frozen=True, slots=True)
class NotBlank:
    """A string annotation: the text holds more than whitespace (which :class:`StrictModel`
    strips), stated in the document as :data:`NOT_BLANK_TEXT`."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_not_blank, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "pattern": NOT_BLANK_TEXT}


# --- identifiers of people and enterprises, as request fields ------------------------------
# Each type states its syntax in the OpenAPI document (pattern, lengths), so that generated
# clients check it before they send; the server enforces the same, and the services add what a
# pattern cannot say (a phone number's allocation, a tax code's check digit, a province code).

# Custom string formats: rules a pattern cannot spell, named in the document (``format``) and
# explained in docs/api.md; the server checks them, and a client may check them before it sends.
# ``vn-phone``/``vn-mobile``: a number in a range allocated in Vietnam (a mobile one), by the
# ``phonenumbers`` numbering plan (``vietnamese_phone``). ``vn-tax-code``: the tax code's check
# digit (``tax_code_check_digit``).
PHONE_FORMAT = "vn-phone"
MOBILE_FORMAT = "vn-mobile"
TAX_CODE_FORMAT = "vn-tax-code"

# A Vietnamese phone number as people write it: 0, 84 or +84, then the national number, its
# digits optionally grouped by single spaces, dots or hyphens.
PHONE_PATTERN = r"^(\+84|84|0)[ .-]?[1-9]([ .-]?[0-9]){7,9}$"
# A mobile number: the national number is 9 digits starting with 3, 5, 7, 8 or 9 (the mobile
# ranges since the 2018 renumbering).
MOBILE_PATTERN = r"^(\+84|84|0)[ .-]?[35789]([ .-]?[0-9]){8}$"
# Birth-registration province codes of the personal identification number (Circular
# 59/2021/TT-BCA: 63 provinces as numbered before the 2025 merger; numbers already issued keep them).
PROVINCE_CODES = (
    "001", "002", "004", "006", "008", "010", "011", "012", "014", "015", "017", "019", "020", "022", "024",
    "025", "026", "027", "030", "031", "033", "034", "035", "036", "037", "038", "040", "042", "044", "045",
    "046", "048", "049", "051", "052", "054", "056", "058", "060", "062", "064", "066", "067", "068", "070",
    "072", "074", "075", "077", "079", "080", "082", "083", "084", "086", "087", "089", "091", "092", "093",
    "094", "095", "096",
)  # fmt: skip
# Personal identification number (số định danh cá nhân): a province code, then 9 digits.
PERSONAL_ID_PATTERN = f"^({'|'.join(PROVINCE_CODES)})[0-9]{{9}}$"
# Tax code (mã số thuế): 10 digits, or 10 digits, a hyphen and a 3-digit branch number (001-999).
TAX_CODE_PATTERN = r"^[0-9]{10}(-(00[1-9]|0[1-9][0-9]|[1-9][0-9]{2}))?$"
TAX_CODE_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


def tax_code_check_digit(first_nine: str) -> int | None:
    """The check digit of a tax code's first nine digits
    (``10 - (31·d1 + 29·d2 + 23·d3 + 19·d4 + 17·d5 + 13·d6 + 7·d7 + 5·d8 + 3·d9) mod 11``);
    None when no digit is valid (the remainder gives 10)."""
    remainder = sum(w * int(d) for w, d in zip(TAX_CODE_WEIGHTS, first_nine, strict=True)) % 11
    check = 10 - remainder
    return None if check == 10 else check


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
        json_schema_extra={"format": PHONE_FORMAT},
        description="A phone number allocated in Vietnam: 0, 84 or +84 then the national number. "
        "Stored in E.164 form (+84…).",
    ),
    AfterValidator(_phone),
]  # fmt: skip
VietnameseMobile = Annotated[
    str,
    Field(
        pattern=MOBILE_PATTERN, min_length=10, max_length=20, examples=["0912345678", "+84912345678"],
        json_schema_extra={"format": MOBILE_FORMAT},
        description="A Vietnamese mobile number allocated to an operator: 0, 84 or +84 then 9 digits "
        "starting with 3, 5, 7, 8 or 9. Stored in E.164 form (+84…).",
    ),
    AfterValidator(_mobile),
]  # fmt: skip
PersonalId = Annotated[
    str,
    Field(
        pattern=PERSONAL_ID_PATTERN, min_length=12, max_length=12, examples=["001099012345"],
        description="12-digit personal identification number (số định danh cá nhân): the code of the "
        "province where the birth was registered, the century-and-sex digit, the year of birth's last "
        "two digits, then 6 digits.",
    ),
]  # fmt: skip
TaxCode = Annotated[
    str,
    Field(
        pattern=TAX_CODE_PATTERN, min_length=10, max_length=14, examples=["0101234565", "0101234565-001"],
        json_schema_extra={"format": TAX_CODE_FORMAT},
        description="Tax code (mã số thuế): 10 digits whose last is a check digit, or NNNNNNNNNN-NNN "
        "for a branch (001 to 999).",
    ),
]  # fmt: skip
# A person's or an organisation's name: at most 200 characters as sent, not blank; stored without
# the spaces around it.
Name = Annotated[str, Field(min_length=1, max_length=200, examples=["Nguyễn Văn An"]), NotBlank()]
#: The ids the services hand out (UUIDs), in either case.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

# An e-mail address as people give one: something, an @, a domain with a dot; no whitespace (spelled
# out, so that every regular-expression dialect reads the pattern alike) and at most 254 characters.
EMAIL_PATTERN = f"^[^@{WHITESPACE}]+@[^@{WHITESPACE}]+\\.[^@{WHITESPACE}]+$"
Email = Annotated[str, Field(max_length=254, pattern=EMAIL_PATTERN, examples=["an.nguyen@example.vn"])]
