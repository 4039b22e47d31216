"""The document's custom formats and the conformance harness's generators for them agree with
the server: every value a generator draws passes the check the format names, and the checks
still refuse what they should."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.identity.domain import identifiers
from services.identity.domain.passwords import PasswordPolicy
from services.kit.schemas import MOBILE_PATTERN, PHONE_PATTERN, TAX_CODE_PATTERN, InvalidPhone, vietnamese_phone
from tests.security.formats import mobile_numbers, new_passwords, phone_numbers, tax_codes

DRAWS = settings(max_examples=60, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


@DRAWS
@given(st.data())
def test_drawn_mobile_and_phone_numbers_are_allocated(data: st.DataObject) -> None:
    mobile, phone = data.draw(mobile_numbers()), data.draw(phone_numbers())
    assert re.search(MOBILE_PATTERN, mobile) and re.search(PHONE_PATTERN, phone)
    assert identifiers.phone(mobile).startswith("+84")
    assert vietnamese_phone(phone).startswith("+84")


@DRAWS
@given(tax_codes())
def test_drawn_tax_codes_have_their_check_digit(code: str) -> None:
    assert re.search(TAX_CODE_PATTERN, code)
    assert identifiers.tax_code(code) == code


@DRAWS
@given(new_passwords())
def test_drawn_passwords_pass_the_default_policy(password: str) -> None:
    assert PasswordPolicy().failures(password, ["+84912345678", "001099012345"]) == []


@pytest.mark.parametrize("refused", ["0552345678", "0241234567"])
def test_the_mobile_check_still_refuses_unallocated_or_fixed_numbers(refused: str) -> None:
    with pytest.raises(InvalidPhone):
        vietnamese_phone(refused, mobile=True)


def test_the_tax_code_check_still_refuses_a_wrong_check_digit() -> None:
    with pytest.raises(identifiers.InvalidIdentifier, match="check digit"):
        identifiers.tax_code("0000000000")
