"""Working days and the appointment date on a receipt. Pure Python: domain modules import it.

A procedure's processing time is a number of working days (Decree 61/2018); the receipt
carries the appointment date it gives (Decree 45/2020 art. 11). The rules:

1. **A working day** is a day that is neither a weekly rest day (Saturday and Sunday unless the
   deployment says otherwise) nor a public holiday.
2. **Counting starts the working day after receipt.** ``n`` working days after a date is the
   ``n``-th working day following it: received on Friday with 1 day to go, the appointment
   is Monday; received on a Saturday, the count starts on Monday all the same. Zero days is
   the day of receipt itself.
3. **The receipt's date is its date in Vietnam** (Asia/Ho_Chi_Minh, UTC+7): a dossier received
   at 23:30 UTC is counted from the next calendar day there. A receipt time without a time
   zone is refused rather than guessed.
4. **Holidays are data.** The national days off (the Labour Code 2019, art. 112: New Year, Tết,
   the Hùng Kings' commemoration, 30 April, 1 May, National Day, and the compensatory day when
   one falls on a weekly rest day) come for any year from the ``holidays`` package's Vietnam
   calendar (:func:`vietnam_public_holidays`; Tết and the Hùng Kings' day follow the lunar
   calendar). The government's decisions of each year (a weekday given off and a Saturday worked
   instead, an extra day off) are the deployment's: days off added (or the national list
   replaced) and working days set (see :func:`parse_holidays`, and :func:`calendar_of` for a
   service whose settings inherit :class:`services.kit.settings.CalendarSettings`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import holidays as holiday_data

if TYPE_CHECKING:
    from .settings import CalendarSettings

VIETNAM_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
"""The time zone every date of a filing (a dossier's receipt, its appointment) is read in."""

_ONE_DAY = timedelta(days=1)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class WorkingCalendar:
    """Working days: not in ``weekend`` (Python weekday numbers, Monday = 0) and not a holiday —
    one of ``holidays`` or, with ``national``, of ``national(year)`` — unless named in
    ``working_days`` (a rest day the government made a working day, in exchange for another)."""

    def __init__(
        self, holidays: Iterable[date] = (), weekend: frozenset[int] = frozenset({5, 6}), *,
        national: Callable[[int], frozenset[date]] | None = None, working_days: Iterable[date] = (),
    ) -> None:  # fmt: skip
        weekend = frozenset(weekend)
        if not weekend <= frozenset(range(7)):
            raise ValueError(f"Weekend days are weekday numbers 0 (Monday) to 6 (Sunday), not {sorted(weekend)}.")
        if len(weekend) == 7:
            raise ValueError("A week needs at least one working day.")
        self.holidays: frozenset[date] = frozenset(holidays)
        self.weekend: frozenset[int] = weekend
        self.national = national
        self.working_days: frozenset[date] = frozenset(working_days)

    def is_working_day(self, d: date) -> bool:
        if d in self.working_days:
            return True
        if d.weekday() in self.weekend or d in self.holidays:
            return False
        return self.national is None or d not in self.national(d.year)

    def add_working_days(self, start: date, days: int) -> date:
        """The date ``days`` working days after ``start`` (counting from the day after it;
        ``days`` = 0 gives ``start`` itself, whatever day it is)."""
        if days < 0:
            raise ValueError(f"A number of working days cannot be negative ({days}).")
        current = start
        remaining = days
        while remaining:
            current += _ONE_DAY
            if self.is_working_day(current):
                remaining -= 1
        return current

    def appointment(self, received_at: datetime, days: int) -> date:
        """The appointment date of a dossier received at ``received_at`` (timezone-aware) with a
        processing time of ``days`` working days, counted on the receipt's date in Vietnam."""
        if received_at.tzinfo is None or received_at.utcoffset() is None:
            raise ValueError("The receipt time must carry a time zone.")
        return self.add_working_days(received_at.astimezone(VIETNAM_TZ).date(), days)


def parse_holidays(values: Iterable[str]) -> frozenset[date]:
    """Holidays from ISO dates (``YYYY-MM-DD``) as a setting lists them. Surrounding blanks are
    ignored, and so are empty entries (a trailing comma); anything else that is not such a date
    raises ValueError naming it."""
    days: set[date] = set()
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(f"Holiday {raw!r} is not a date written YYYY-MM-DD.")
        try:
            days.add(date.fromisoformat(value))
        except ValueError:
            raise ValueError(f"Holiday {raw!r} is not a date of the calendar.") from None
    return frozenset(days)


@lru_cache(maxsize=64)
def vietnam_public_holidays(year: int) -> frozenset[date]:
    """The national days off of ``year`` (any year), by the ``holidays`` package's Vietnam
    calendar: the Labour Code's holidays with Tết's span, the Hùng Kings' day by the lunar
    calendar and the compensatory days the Code gives; for past years also the swaps the
    government decided that the package knows. Later decisions are the deployment's settings."""
    return frozenset(holiday_data.country_holidays("VN", years=year))


def calendar_of(settings: CalendarSettings) -> WorkingCalendar:
    """The working calendar a service's settings describe: the national days off of any year
    plus ``holidays`` (or ``holidays`` alone with ``holidays_replace``), ``working_days`` worked,
    Saturday and Sunday off. Raises ValueError naming a setting's date that is not one."""
    national = None if settings.holidays_replace else vietnam_public_holidays
    return WorkingCalendar(
        parse_holidays(settings.holidays), national=national, working_days=parse_holidays(settings.working_days)
    )


# The instants a driver can send, whatever the day: the calendar's first day starts before year 1
# in UTC and its last one ends after year 9999.
_FIRST_SENDABLE_DAY = date(1, 1, 2)
_LAST_SENDABLE_INSTANT = datetime(9999, 12, 31, 16, 59, 59, tzinfo=UTC)


def day_start(day: date) -> datetime:
    """When ``day`` starts in Vietnam (from the calendar's second day for its first)."""
    return datetime.combine(max(day, _FIRST_SENDABLE_DAY), time(), VIETNAM_TZ)


def day_end(day: date) -> datetime:
    """When the day after ``day`` starts in Vietnam: the exclusive end of ``day`` (the last
    instant a driver can send for the calendar's last day)."""
    if day == date.max:
        return _LAST_SENDABLE_INSTANT
    return day_start(day + _ONE_DAY)
