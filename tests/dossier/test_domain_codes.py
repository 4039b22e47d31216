"""Dossier codes: agency, yymmdd, sequence; they read back as they were written."""

from __future__ import annotations

from datetime import date

import pytest

from services.dossier.domain.codes import DOSSIER_CODE_MAX_LENGTH, dossier_code, parse_dossier_code


def test_the_observed_example() -> None:
    assert dossier_code("H15.50", date(2025, 12, 3), 2035) == "H15.50-251203-2035"
    assert parse_dossier_code("H15.50-251203-2035") == ("H15.50", date(2025, 12, 3), 2035)


def test_sequence_is_padded_to_four_digits_and_grows_past_them() -> None:
    assert dossier_code("000.00.01.H22", date(2026, 1, 9), 1) == "000.00.01.H22-260109-0001"
    assert dossier_code("000.00.01.H22", date(2026, 1, 9), 9999) == "000.00.01.H22-260109-9999"
    assert dossier_code("000.00.01.H22", date(2026, 1, 9), 12345) == "000.00.01.H22-260109-12345"


@pytest.mark.parametrize(
    ("agency", "day", "sequence"),
    [
        ("H15.50", date(2025, 12, 3), 2035),
        ("000.00.01.H22", date(2000, 1, 1), 1),
        ("000.00.01.H22", date(2099, 12, 31), 10_000),
        ("G01", date(2028, 2, 29), 123_456_789),
        ("A" * 40, date(2030, 6, 15), 42),
    ],
)
def test_round_trip(agency: str, day: date, sequence: int) -> None:
    code = dossier_code(agency, day, sequence)
    assert len(code) <= DOSSIER_CODE_MAX_LENGTH
    assert parse_dossier_code(code) == (agency, day, sequence)
    assert dossier_code(*parse_dossier_code(code)) == code


@pytest.mark.parametrize("sequence", [0, -1, True, 1.0, "1"])
def test_a_bad_sequence_is_refused(sequence: object) -> None:
    with pytest.raises(ValueError):
        dossier_code("H15.50", date(2025, 12, 3), sequence)  # type: ignore[arg-type]


@pytest.mark.parametrize("agency", ["", "H15-50", "H15 50", "H15/50", "Hà.01", "A" * 41, "H15\n"])
def test_a_bad_agency_code_is_refused(agency: str) -> None:
    with pytest.raises(ValueError):
        dossier_code(agency, date(2025, 12, 3), 1)


@pytest.mark.parametrize("day", [date(1999, 12, 31), date(2100, 1, 1)])
def test_a_date_that_would_not_read_back_is_refused(day: date) -> None:
    with pytest.raises(ValueError):
        dossier_code("H15.50", day, 1)


def test_a_code_longer_than_the_column_is_refused() -> None:
    with pytest.raises(ValueError):
        dossier_code("A" * 40, date(2025, 12, 3), 10**20)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "H15.50",
        "H15.50-251203",
        "H15.50-251203-203",  # fewer than 4 digits
        "H15.50-251203-0000",  # sequence starts at 1
        "H15.50-251203-02035",  # a longer sequence never starts with 0
        "H15.50-251303-2035",  # month 13
        "H15.50-250230-2035",  # 30 February
        "H15.50-2512031-2035",
        "H15.50-25-12-03-2035",
        "-251203-2035",
        "H15.50-251203-2035\n",
        "H15.50-251203-2035 ",
        "h15,50-251203-2035",
        "H15.50-２５1203-2035",  # full-width digits are not digits here
        "H15.50-251203-٢٠٣٥",  # nor Arabic-Indic ones
        "A" * 60 + "-251203-2035",
    ],
)
def test_malformed_codes_are_refused(code: str) -> None:
    with pytest.raises(ValueError):
        parse_dossier_code(code)
