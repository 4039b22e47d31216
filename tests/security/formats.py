"""Generators for the document's custom string formats, so that "valid data" really is valid.

A custom ``format`` names a rule JSON Schema cannot spell (docs/api.md lists them): a phone
number's allocation in the numbering plan, a tax code's check digit, the password policy. Each
generator here draws values that meet the rule, and filters them through the server's own check
(the same function the services call), so a generator cannot drift from the rule it stands for.
Importing this module registers them with schemathesis.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

from services.identity.api.schemas import NEW_PASSWORD_FORMAT
from services.identity.domain.passwords import PasswordPolicy
from services.kit.schemas import (
    MOBILE_FORMAT,
    PHONE_FORMAT,
    TAX_CODE_FORMAT,
    InvalidPhone,
    tax_code_check_digit,
    vietnamese_phone,
)

# National significant numbers' leading digits of ranges allocated to operators (mobile) and of
# fixed-line area codes (Hà Nội 24, TP. Hồ Chí Minh 28, Đà Nẵng 236, Hải Phòng 225).
_MOBILE_PREFIXES = ("32", "33", "34", "35", "36", "37", "38", "39", "56", "58", "70", "76", "77", "78", "79", "81",
                    "82", "83", "84", "85", "86", "88", "89", "90", "91", "93", "94", "96", "97", "98",
                    "99")  # fmt: skip
_FIXED_PREFIXES = (("24", 8), ("28", 8), ("236", 7), ("225", 7))
_TRUNK = st.sampled_from(("0", "+84", "84"))


def _allocated(mobile: bool):  # type: ignore[no-untyped-def]
    def check(value: str) -> bool:
        try:
            vietnamese_phone(value, mobile=mobile)
        except InvalidPhone:
            return False
        return True

    return check


def _digits(count: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=count, max_size=count)


def mobile_numbers() -> st.SearchStrategy[str]:
    national = st.builds(lambda p, rest: p + rest, st.sampled_from(_MOBILE_PREFIXES), _digits(7))
    return st.builds(lambda trunk, n: trunk + n, _TRUNK, national).filter(_allocated(mobile=True))


def phone_numbers() -> st.SearchStrategy[str]:
    fixed = st.sampled_from(_FIXED_PREFIXES).flatmap(lambda p: _digits(p[1]).map(lambda rest: p[0] + "3" + rest[1:]))
    lines = st.builds(lambda trunk, n: trunk + n, _TRUNK, fixed).filter(_allocated(mobile=False))
    return st.one_of(mobile_numbers(), lines)


def _with_check_digit(first_nine: str) -> str | None:
    check = tax_code_check_digit(first_nine)
    return None if check is None else f"{first_nine}{check}"


def tax_codes() -> st.SearchStrategy[str]:
    parent = _digits(9).map(_with_check_digit).filter(lambda code: code is not None).map(str)
    branch = st.integers(1, 999).map(lambda n: f"-{n:03d}")
    return st.builds(lambda code, suffix: code + suffix, parent, st.one_of(st.just(""), branch))


_POLICY = PasswordPolicy()


def new_passwords() -> st.SearchStrategy[str]:
    """Passwords the default policy takes: letters around a symbol and a few digits (never four
    digits in a row, so no identifier of the account can hide in one)."""
    letters = st.text("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ", min_size=4, max_size=12)
    shape = st.tuples(letters, st.sampled_from("!@#$%&*-_.~"), _digits(3), letters).map("".join)
    return shape.filter(lambda password: not _POLICY.failures(password))


FORMATS = {
    PHONE_FORMAT: phone_numbers(),
    MOBILE_FORMAT: mobile_numbers(),
    TAX_CODE_FORMAT: tax_codes(),
    NEW_PASSWORD_FORMAT: new_passwords(),
}
for _name, _strategy in FORMATS.items():
    schemathesis.openapi.format(_name, _strategy)
