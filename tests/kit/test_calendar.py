"""Working days and appointment dates: weekends, holidays, year ends, Tết, the Vietnamese date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic_settings import SettingsConfigDict

from services.kit.calendar import WorkingCalendar, calendar_of, parse_holidays, vietnam_public_holidays
from services.kit.settings import CalendarSettings

PLAIN = WorkingCalendar()
VIETNAM = WorkingCalendar(national=vietnam_public_holidays)

# Dates used below (weekday checked in the first test so a typo cannot pass unnoticed).
MON_1_DEC_2025 = date(2025, 12, 1)
FRI_5_DEC_2025 = date(2025, 12, 5)
SAT_6_DEC_2025 = date(2025, 12, 6)
SUN_7_DEC_2025 = date(2025, 12, 7)
MON_8_DEC_2025 = date(2025, 12, 8)


def test_the_reference_dates_are_the_weekdays_their_names_say() -> None:
    assert [d.weekday() for d in (MON_1_DEC_2025, FRI_5_DEC_2025, SAT_6_DEC_2025, SUN_7_DEC_2025)] == [0, 4, 5, 6]


def test_saturday_and_sunday_are_not_working_days_by_default() -> None:
    week = [MON_1_DEC_2025 + timedelta(days=n) for n in range(7)]
    assert [PLAIN.is_working_day(d) for d in week] == [True] * 5 + [False] * 2


def test_a_holiday_is_not_a_working_day() -> None:
    calendar = WorkingCalendar([date(2025, 12, 3)])
    assert not calendar.is_working_day(date(2025, 12, 3))
    assert calendar.is_working_day(date(2025, 12, 4))


def test_another_weekend_can_be_configured() -> None:
    six_days = WorkingCalendar(weekend=frozenset({6}))
    assert six_days.is_working_day(SAT_6_DEC_2025)
    assert six_days.add_working_days(FRI_5_DEC_2025, 1) == SAT_6_DEC_2025


@pytest.mark.parametrize("weekend", [frozenset({7}), frozenset({-1}), frozenset(range(7))])
def test_an_impossible_weekend_is_refused(weekend: frozenset[int]) -> None:
    with pytest.raises(ValueError):
        WorkingCalendar(weekend=weekend)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (MON_1_DEC_2025, 0, MON_1_DEC_2025),
        (MON_1_DEC_2025, 1, date(2025, 12, 2)),
        (MON_1_DEC_2025, 4, FRI_5_DEC_2025),
        (MON_1_DEC_2025, 5, MON_8_DEC_2025),  # over the weekend
        (FRI_5_DEC_2025, 1, MON_8_DEC_2025),
        (SAT_6_DEC_2025, 1, MON_8_DEC_2025),  # counting starts on the next working day
        (SUN_7_DEC_2025, 1, MON_8_DEC_2025),
        (SAT_6_DEC_2025, 0, SAT_6_DEC_2025),  # zero days is the day itself, whatever day it is
        (MON_1_DEC_2025, 10, date(2025, 12, 15)),
        (MON_1_DEC_2025, 15, date(2025, 12, 22)),
    ],
)
def test_adding_working_days_without_holidays(start: date, days: int, expected: date) -> None:
    assert PLAIN.add_working_days(start, days) == expected


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError):
        PLAIN.add_working_days(MON_1_DEC_2025, -1)


def test_holidays_are_skipped() -> None:
    calendar = WorkingCalendar([date(2025, 12, 2), date(2025, 12, 3)])
    assert calendar.add_working_days(MON_1_DEC_2025, 1) == date(2025, 12, 4)
    assert calendar.add_working_days(MON_1_DEC_2025, 3) == MON_8_DEC_2025


def test_a_holiday_on_a_weekend_changes_nothing_more() -> None:
    calendar = WorkingCalendar([SAT_6_DEC_2025])
    assert calendar.add_working_days(FRI_5_DEC_2025, 1) == MON_8_DEC_2025


def test_over_the_year_end_and_new_year() -> None:
    # Wednesday 31 Dec 2025; Thursday 1 Jan 2026 is a holiday; then Friday, the weekend, Monday.
    wed_31_dec = date(2025, 12, 31)
    assert VIETNAM.add_working_days(wed_31_dec, 1) == date(2026, 1, 2)
    assert VIETNAM.add_working_days(wed_31_dec, 2) == date(2026, 1, 5)
    assert PLAIN.add_working_days(wed_31_dec, 1) == date(2026, 1, 1)
    # Across the leap day of 2028: Monday 28 Feb -> Tuesday 29 Feb.
    assert PLAIN.add_working_days(date(2028, 2, 28), 1) == date(2028, 2, 29)


def test_a_tet_week() -> None:
    # Tết 2025: days off from Saturday 25 Jan to Sunday 2 Feb. Received Friday 24 Jan with 1 day:
    # the first working day after is Monday 3 Feb.
    tet = WorkingCalendar([date(2025, 1, 25) + timedelta(days=n) for n in range(9)])
    assert tet.add_working_days(date(2025, 1, 24), 1) == date(2025, 2, 3)
    assert tet.add_working_days(date(2025, 1, 23), 2) == date(2025, 2, 3)
    assert tet.add_working_days(date(2025, 1, 29), 0) == date(2025, 1, 29)
    assert tet.add_working_days(date(2025, 1, 29), 1) == date(2025, 2, 3)
    # Without the holidays, the same count lands inside the Tết week.
    assert PLAIN.add_working_days(date(2025, 1, 24), 1) == date(2025, 1, 27)


def test_the_national_holidays_hold_the_obvious_days() -> None:
    for year in (2025, 2026, 2027):
        for month, day in ((1, 1), (4, 30), (5, 1), (9, 2)):
            assert date(year, month, day) in vietnam_public_holidays(year)
    assert date(2025, 1, 29) in vietnam_public_holidays(2025)  # Tết 2025
    assert date(2026, 2, 17) in vietnam_public_holidays(2026)  # Tết 2026
    assert date(2027, 2, 8) in vietnam_public_holidays(2027)  # Tết 2027, a Monday
    assert date(2025, 12, 25) not in vietnam_public_holidays(2025)
    assert all(d.year == 2026 for d in vietnam_public_holidays(2026))


def test_the_tet_breaks_of_2025_to_2027_are_days_off() -> None:
    # Every weekday of the break the government gave (25 Jan-2 Feb 2025, 14-22 Feb 2026) and
    # 2027's first days (5-10 Feb) are off; the working day after the break is the first one
    # counted.
    for first, last in ((date(2025, 1, 25), date(2025, 2, 2)), (date(2026, 2, 14), date(2026, 2, 22)),
                        (date(2027, 2, 5), date(2027, 2, 10))):  # fmt: skip
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        assert not any(VIETNAM.is_working_day(d) for d in days), first
    assert VIETNAM.add_working_days(date(2025, 1, 24), 1) == date(2025, 2, 3)
    assert VIETNAM.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 23)


@pytest.mark.parametrize(
    ("new_year", "friday_before", "first_working_day_after"),
    [
        # Lunar new year's day; the last working day before the break; the first one after it.
        (date(2028, 1, 26), date(2028, 1, 21), date(2028, 1, 31)),
        (date(2029, 2, 13), date(2029, 2, 9), date(2029, 2, 19)),
        (date(2030, 2, 2), date(2030, 1, 30), date(2030, 2, 7)),
        (date(2031, 1, 23), date(2031, 1, 20), date(2031, 1, 28)),
    ],
)
def test_tet_after_2027_is_off_too(new_year: date, friday_before: date, first_working_day_after: date) -> None:
    assert new_year in vietnam_public_holidays(new_year.year)
    break_days = [friday_before + timedelta(days=n) for n in range(1, (first_working_day_after - friday_before).days)]
    assert not any(VIETNAM.is_working_day(d) for d in break_days)
    assert VIETNAM.is_working_day(friday_before) and VIETNAM.is_working_day(first_working_day_after)
    # An appointment one working day after the last day before Tết is the first day after it.
    assert VIETNAM.add_working_days(friday_before, 1) == first_working_day_after
    assert PLAIN.add_working_days(friday_before, 1) != first_working_day_after


def test_the_deployment_adds_days_off_and_swaps_a_saturday() -> None:
    # A government decision: Friday 5 Jan 2029 off, Saturday 13 Jan worked instead.
    decided = WorkingCalendar([date(2029, 1, 5)], national=vietnam_public_holidays, working_days=[date(2029, 1, 13)])
    assert not decided.is_working_day(date(2029, 1, 5))
    assert decided.is_working_day(date(2029, 1, 13))
    assert decided.add_working_days(date(2029, 1, 4), 1) == date(2029, 1, 8)
    assert decided.add_working_days(date(2029, 1, 12), 1) == date(2029, 1, 13)
    # Replacing the national list: Tết is then only what the deployment lists.
    replaced = WorkingCalendar([date(2029, 1, 5)])
    assert replaced.is_working_day(date(2029, 2, 13))


def test_receipt_at_2330_utc_counts_from_the_next_local_date() -> None:
    # 23:30 UTC on Thursday 4 Dec is 06:30 on Friday 5 Dec in Hanoi: 1 day later is Monday 8 Dec,
    # not Friday 5 Dec as the UTC date would give.
    received = datetime(2025, 12, 4, 23, 30, tzinfo=UTC)
    assert PLAIN.appointment(received, 1) == MON_8_DEC_2025
    assert PLAIN.appointment(received, 0) == FRI_5_DEC_2025


def test_receipt_time_in_another_offset_is_read_in_vietnam() -> None:
    # 18:00 on Friday at UTC+1 is 00:00 on Saturday in Hanoi.
    received = datetime(2025, 12, 5, 18, 0, tzinfo=timezone(timedelta(hours=1)))
    assert PLAIN.appointment(received, 0) == SAT_6_DEC_2025
    assert PLAIN.appointment(received, 1) == MON_8_DEC_2025
    # One minute earlier it is still Friday there.
    assert PLAIN.appointment(received - timedelta(minutes=1), 1) == MON_8_DEC_2025
    assert PLAIN.appointment(received - timedelta(minutes=1), 0) == FRI_5_DEC_2025


def test_appointment_skips_holidays() -> None:
    received = datetime(2026, 4, 29, 9, 0, tzinfo=UTC)  # Wednesday; 30 Apr and 1 May off
    assert VIETNAM.appointment(received, 1) == date(2026, 5, 4)


def test_a_naive_receipt_time_is_refused() -> None:
    with pytest.raises(ValueError):
        PLAIN.appointment(datetime(2025, 12, 4, 23, 30), 1)


def test_parse_holidays() -> None:
    assert parse_holidays(["2025-01-01", " 2025-04-30 ", ""]) == frozenset({date(2025, 1, 1), date(2025, 4, 30)})
    assert parse_holidays([]) == frozenset()


@pytest.mark.parametrize("bad", ["2025-13-01", "2025-02-30", "01/01/2025", "20250101", "2025-1-1", "tet", "2025-W01-1"])
def test_parse_holidays_names_the_bad_value(bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        parse_holidays(["2025-01-01", bad])


class Settings(CalendarSettings):
    model_config = SettingsConfigDict(env_prefix="TEST_")


def test_a_service_counts_with_the_national_calendar_and_the_deployments_decisions() -> None:
    calendar = calendar_of(Settings(holidays=["2029-01-05"], working_days=["2029-01-13"]))
    assert calendar.add_working_days(date(2028, 1, 21), 1) == date(2028, 1, 31)  # over Tết 2028
    assert not calendar.is_working_day(date(2029, 1, 5))
    assert calendar.is_working_day(date(2029, 1, 13))
    replaced = calendar_of(Settings(holidays=["2029-01-05"], holidays_replace=True))
    assert replaced.is_working_day(date(2028, 1, 26))
    assert not replaced.is_working_day(date(2029, 1, 5))


def test_the_calendar_settings_are_read_with_the_services_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HOLIDAYS", '["2029-01-05"]')
    monkeypatch.setenv("TEST_HOLIDAYS_REPLACE", "true")
    monkeypatch.setenv("TEST_WORKING_DAYS", '["2029-01-13"]')
    read = Settings()
    assert (read.holidays, read.holidays_replace, read.working_days) == (["2029-01-05"], True, ["2029-01-13"])
    assert Settings.model_fields.keys() == {"holidays", "holidays_replace", "working_days"}


def test_a_settings_date_that_is_not_one_is_named() -> None:
    with pytest.raises(ValueError, match="2029-02-30"):
        calendar_of(Settings(holidays=["2029-02-30"]))


def test_a_day_starts_and_ends_in_vietnam_and_the_calendars_ends_can_be_sent() -> None:
    from datetime import UTC, datetime

    from services.kit.calendar import day_end, day_start

    assert day_start(date(2026, 1, 5)) == datetime(2026, 1, 4, 17, 0, tzinfo=UTC)
    assert day_end(date(2026, 1, 5)) == datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
    # Year 1's first day would start in year 0 in UTC; the calendar's last has no next day.
    assert day_start(date.min).astimezone(UTC).year == 1
    assert day_end(date.max) > day_start(date.max) and day_end(date.max).astimezone(UTC).year == 9999
