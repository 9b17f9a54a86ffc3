"""The 2-working-day answer deadline: weekends, Tết, Hùng Kings day, 30 April and 1 May, National
Day, the days off decided yearly, and the Vietnamese calendar day of a UTC timestamp."""

from __future__ import annotations

import datetime as dt

import pytest

from lgsp.sharing.workdays import VIETNAM, add_working_days, answer_due, is_overdue, is_working_day


def at(day: str, hour: int = 9) -> dt.datetime:
    """A moment in Vietnam time."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), VIETNAM)


@pytest.mark.parametrize(
    ("requested", "due", "why"),
    [
        ("2026-11-16", "2026-11-18", "Monday → Wednesday"),
        ("2026-11-20", "2026-11-25", "Friday → Wednesday: weekend, and 24 Nov is Vietnam Culture Day (from 2026)"),
        ("2026-11-21", "2026-11-25", "Saturday → Wednesday: Mon 23 is the 1st, Tue 24 a holiday, Wed 25 the 2nd"),
        ("2026-02-13", "2026-02-24", "Friday before Tết 2026 (16–20 Feb off) → Tuesday after"),
        ("2025-01-24", "2025-02-04", "Friday before Tết 2025 (27 Jan–1 Feb off) → Tuesday 4 Feb"),
        ("2026-04-24", "2026-04-29", "Friday before Hùng Kings day (observed Mon 27 Apr) → Wednesday"),
        ("2026-04-29", "2026-05-05", "Wednesday before 30 April and 1 May → Tuesday"),
        ("2026-08-28", "2026-09-04", "Friday before National Day (31 Aug–2 Sep off) → Friday"),
        ("2025-08-29", "2025-09-04", "Friday before 1–2 Sep 2025 → Thursday"),
    ],
)
def test_answer_due(requested: str, due: str, why: str) -> None:
    assert answer_due(at(requested)) == dt.date.fromisoformat(due), why


def test_holidays_are_not_working_days() -> None:
    for day in ("2026-02-17", "2026-04-30", "2026-05-01", "2026-09-02", "2026-01-01", "2025-04-07"):
        assert not is_working_day(dt.date.fromisoformat(day)), day
    assert is_working_day(dt.date(2026, 2, 23))


def test_days_off_decided_yearly_come_from_configuration() -> None:
    bridge = dt.date(2026, 9, 3)  # suppose the government moves a day off onto Thursday 3 Sep
    assert add_working_days(dt.date(2026, 8, 28), 2) == dt.date(2026, 9, 4)
    assert add_working_days(dt.date(2026, 8, 28), 2, [bridge]) == dt.date(2026, 9, 7)
    assert answer_due(at("2026-08-28"), [bridge]) == dt.date(2026, 9, 7)


def test_the_day_is_the_day_in_vietnam() -> None:
    # 18:00 UTC on Thursday is 01:00 on Friday in Vietnam: the request arrived on Friday.
    thursday_evening_utc = dt.datetime(2026, 11, 12, 18, 0, tzinfo=dt.UTC)
    assert answer_due(thursday_evening_utc) == dt.date(2026, 11, 17)
    assert answer_due(dt.datetime(2026, 11, 12, 9, 0, tzinfo=dt.UTC)) == dt.date(2026, 11, 16)


def test_overdue_once_the_due_day_has_ended_in_vietnam() -> None:
    due = dt.date(2026, 11, 18)
    assert not is_overdue(due, at("2026-11-18", 23))
    assert is_overdue(due, at("2026-11-19", 0))
    assert not is_overdue(due, dt.datetime(2026, 11, 18, 16, 59, tzinfo=dt.UTC))  # 23:59 in Vietnam
    assert is_overdue(due, dt.datetime(2026, 11, 18, 17, 0, tzinfo=dt.UTC))
