"""Working days in Vietnam, for the 2-working-day answer deadline of Decree 47/2020 as amended by
Decree 194/2025.

Saturdays, Sundays and the public holidays of the Labour Code (New Year, Tết, Hùng Kings day,
30 April, 1 May, National Day), as the `holidays` package computes them from the lunar calendar,
are not working days. The official Tết bridging days and swapped days off are decided by the
government each year: add them with `LGSP_EXTRA_HOLIDAYS` (comma-separated ISO dates).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
ANSWER_DAYS = 2


@lru_cache(maxsize=64)
def _public_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("VN", years=year))


def is_working_day(day: dt.date, extra_holidays: Iterable[dt.date] = ()) -> bool:
    return day.weekday() < 5 and day not in _public_holidays(day.year) and day not in set(extra_holidays)


def add_working_days(start: dt.date, days: int, extra_holidays: Iterable[dt.date] = ()) -> dt.date:
    """The `days`-th working day after `start` (the day of `start` itself is not counted)."""
    extra = frozenset(extra_holidays)
    day, counted = start, 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_working_day(day, extra):
            counted += 1
    return day


def local_date(moment: dt.datetime) -> dt.date:
    """The calendar day in Vietnam of a moment (timestamps are stored in UTC)."""
    return moment.astimezone(VIETNAM).date()


def answer_due(requested_at: dt.datetime, extra_holidays: Iterable[dt.date] = ()) -> dt.date:
    """The last day to answer a request: the end of the 2nd working day after the day it arrived
    (a request on Friday is due by the end of Tuesday; one on a holiday counts from the next
    working day the same way)."""
    return add_working_days(local_date(requested_at), ANSWER_DAYS, extra_holidays)


def is_overdue(due_on: dt.date, moment: dt.datetime) -> bool:
    """True once the due day has ended in Vietnam."""
    return local_date(moment) > due_on
