"""Working days and the appointment date on a receipt. Pure Python.

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
4. **Holidays are data.** :data:`VIETNAM_PUBLIC_HOLIDAYS` is a default that the deployment
   replaces by setting (see :func:`parse_holidays`), since compensatory days and swapped working
   days are decided each year by a government notice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

VIETNAM_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
"""The time zone every date of a dossier is read in."""

_ONE_DAY = timedelta(days=1)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class WorkingCalendar:
    """Working days: not in ``weekend`` (Python weekday numbers, Monday = 0) and not a holiday."""

    def __init__(self, holidays: Iterable[date] = (), weekend: frozenset[int] = frozenset({5, 6})) -> None:
        weekend = frozenset(weekend)
        if not weekend <= frozenset(range(7)):
            raise ValueError(f"Weekend days are weekday numbers 0 (Monday) to 6 (Sunday), not {sorted(weekend)}.")
        if len(weekend) == 7:
            raise ValueError("A week needs at least one working day.")
        self.holidays: frozenset[date] = frozenset(holidays)
        self.weekend: frozenset[int] = weekend

    def is_working_day(self, d: date) -> bool:
        return d.weekday() not in self.weekend and d not in self.holidays

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


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# Default data, overridden by the deployment's setting: the days off of the Labour Code 2019
# (art. 112) for 2025-2027. New Year (1 Jan), Tết (the government's chosen span around the lunar
# new year, weekends included), the Hùng Kings' commemoration (10th day of the 3rd lunar month),
# Reunification Day (30 Apr), Labour Day (1 May), National Day (2 Sep and an adjacent day).
# A holiday on a weekly rest day gives a compensatory day after it (listed here where that
# follows from the Code). Other compensatory and swapped days come from each year's government
# notice and must be set by the deployment; the list is a plausible default, not the authority.
VIETNAM_PUBLIC_HOLIDAYS: frozenset[date] = frozenset(
    [
        # 2025: Tết is 29 Jan.
        date(2025, 1, 1),
        *_days(date(2025, 1, 25), date(2025, 2, 2)),
        date(2025, 4, 7),
        date(2025, 4, 30),
        date(2025, 5, 1),
        date(2025, 9, 1),
        date(2025, 9, 2),
        # 2026: Tết is 17 Feb; Hùng Kings falls on Sunday 26 Apr (compensated on Monday 27 Apr).
        date(2026, 1, 1),
        *_days(date(2026, 2, 14), date(2026, 2, 22)),
        date(2026, 4, 26),
        date(2026, 4, 27),
        date(2026, 4, 30),
        date(2026, 5, 1),
        date(2026, 9, 1),
        date(2026, 9, 2),
        # 2027: Tết is Saturday 6 Feb (5 days from 5 Feb, plus 2 compensatory for the weekend);
        # Labour Day falls on Saturday 1 May (compensated on Monday 3 May).
        date(2027, 1, 1),
        *_days(date(2027, 2, 5), date(2027, 2, 11)),
        date(2027, 4, 16),
        date(2027, 4, 30),
        date(2027, 5, 1),
        date(2027, 5, 3),
        date(2027, 9, 2),
        date(2027, 9, 3),
    ]
)
