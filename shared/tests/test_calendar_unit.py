"""Working days for deadlines: weekends, public holidays, closing time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dossierbus_shared.calendar import WorkingCalendar, vietnam_calendar

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HCM)


@pytest.fixture
def calendar() -> WorkingCalendar:
    return vietnam_calendar()


def test_shipped_calendar_settings(calendar: WorkingCalendar) -> None:
    assert calendar.timezone.key == "Asia/Ho_Chi_Minh"
    assert calendar.closing_time == time(17, 0)
    assert calendar.is_announced(2025) and calendar.is_announced(2026)
    assert not calendar.is_announced(2027) and not calendar.is_announced(2028)


@pytest.mark.parametrize("day", [date(2026, 3, 7), date(2026, 3, 8), date(2030, 6, 1), date(2030, 6, 2)])
def test_weekends_are_not_working_days(calendar: WorkingCalendar, day: date) -> None:
    assert day.weekday() >= 5
    assert not calendar.is_working_day(day)


@pytest.mark.parametrize("day", [date(2026, 3, 2), date(2026, 3, 6), date(2026, 2, 13), date(2026, 2, 23)])
def test_ordinary_weekdays_are_working_days(calendar: WorkingCalendar, day: date) -> None:
    assert calendar.is_working_day(day)


def test_tet_2026_is_a_holiday(calendar: WorkingCalendar) -> None:
    """Tết Bính Ngọ: Saturday 14 Feb to Sunday 22 Feb 2026, no working day in between."""
    tet = [date(2026, 2, 14) + timedelta(days=offset) for offset in range(9)]

    assert [day for day in tet if calendar.is_working_day(day)] == []
    assert calendar.is_working_day(date(2026, 2, 13))
    assert calendar.is_working_day(date(2026, 2, 23))


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 1),
        date(2026, 4, 27),
        date(2026, 4, 30),
        date(2026, 5, 1),
        date(2026, 9, 1),
        date(2026, 9, 2),
    ],
)
def test_other_2026_holidays(calendar: WorkingCalendar, day: date) -> None:
    assert day.weekday() < 5
    assert not calendar.is_working_day(day)


def test_dossier_received_before_tet_is_due_after_tet(calendar: WorkingCalendar) -> None:
    assert calendar.due_date(local(2026, 2, 13, 10), 1) == date(2026, 2, 23)
    assert calendar.due_date(local(2026, 2, 12, 10), 3) == date(2026, 2, 24)


def test_dossier_received_during_tet_starts_after_tet(calendar: WorkingCalendar) -> None:
    assert calendar.clock_start(local(2026, 2, 17, 9)) == date(2026, 2, 23)
    assert calendar.due_date(local(2026, 2, 17, 9), 0) == date(2026, 2, 23)


def test_monday_morning_plus_three_working_days_is_thursday(calendar: WorkingCalendar) -> None:
    due = calendar.due_date(local(2026, 3, 2, 10), 3)

    assert due == date(2026, 3, 5)
    assert due.weekday() == 3


def test_friday_plus_one_working_day_is_monday(calendar: WorkingCalendar) -> None:
    assert calendar.due_date(local(2026, 3, 6, 10), 1) == date(2026, 3, 9)


def test_receipt_on_a_weekend_starts_on_monday(calendar: WorkingCalendar) -> None:
    assert calendar.clock_start(local(2026, 3, 7, 10)) == date(2026, 3, 9)
    assert calendar.due_date(local(2026, 3, 8, 10), 1) == date(2026, 3, 10)


@pytest.mark.parametrize(
    ("hour", "minute", "start"),
    [
        (16, 59, date(2026, 3, 2)),
        (17, 0, date(2026, 3, 3)),
        (17, 1, date(2026, 3, 3)),
        (23, 59, date(2026, 3, 3)),
        (0, 0, date(2026, 3, 2)),
    ],
)
def test_receipt_after_closing_time_starts_the_next_working_day(
    calendar: WorkingCalendar, hour: int, minute: int, start: date
) -> None:
    assert calendar.clock_start(local(2026, 3, 2, hour, minute)) == start


def test_friday_evening_starts_on_monday(calendar: WorkingCalendar) -> None:
    assert calendar.clock_start(local(2026, 3, 6, 18)) == date(2026, 3, 9)
    assert calendar.due_date(local(2026, 3, 6, 18), 3) == date(2026, 3, 12)


def test_closing_time_is_judged_in_vietnam_time_not_utc(calendar: WorkingCalendar) -> None:
    # 09:30 UTC is 16:30 in Hanoi: before closing. 10:30 UTC is 17:30: after closing.
    assert calendar.clock_start(datetime(2026, 3, 2, 9, 30, tzinfo=UTC)) == date(2026, 3, 2)
    assert calendar.clock_start(datetime(2026, 3, 2, 10, 30, tzinfo=UTC)) == date(2026, 3, 3)
    # Sunday 18:00 UTC is already Monday 01:00 in Hanoi.
    assert calendar.clock_start(datetime(2026, 3, 1, 18, 0, tzinfo=UTC)) == date(2026, 3, 2)


def test_zero_working_days_is_the_start_day(calendar: WorkingCalendar) -> None:
    assert calendar.due_date(local(2026, 3, 3, 10), 0) == date(2026, 3, 3)


def test_negative_working_days_are_refused(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="negative"):
        calendar.add_working_days(date(2026, 3, 2), -1)


def test_naive_datetime_is_refused(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.due_date(datetime(2026, 3, 2, 10, 0), 1)


def test_holidays_of_a_covered_year_do_not_leak_into_other_years(calendar: WorkingCalendar) -> None:
    # 27 Apr is a holiday in 2026 only (compensatory day); 27 Apr 2027 is a Tuesday.
    assert not calendar.is_working_day(date(2026, 4, 27))
    assert calendar.is_working_day(date(2027, 4, 27))


def test_vietnam_calendar_is_loaded_once() -> None:
    assert vietnam_calendar() is vietnam_calendar()


def test_paused_the_same_day_loses_no_working_day(calendar: WorkingCalendar) -> None:
    assert calendar.working_days_between(date(2026, 3, 2), date(2026, 3, 2)) == 0


def test_paused_over_a_weekend_counts_only_the_weekdays(calendar: WorkingCalendar) -> None:
    # Thursday 5 March to Tuesday 10 March 2026: Friday, Monday and Tuesday.
    assert calendar.working_days_between(date(2026, 3, 5), date(2026, 3, 10)) == 3


def test_paused_over_the_april_holidays_skips_them(calendar: WorkingCalendar) -> None:
    # Friday 24 April to Tuesday 5 May 2026: 27 Apr (Hùng Kings, moved), 30 Apr and 1 May are holidays;
    # 28, 29 April and 4, 5 May are working days.
    assert calendar.working_days_between(date(2026, 4, 24), date(2026, 5, 5)) == 4


def test_paused_over_tet_counts_nothing_inside_it(calendar: WorkingCalendar) -> None:
    # Friday 13 February to Monday 23 February 2026: Tết takes the whole week in between.
    assert calendar.working_days_between(date(2026, 2, 13), date(2026, 2, 23)) == 1


def test_local_date_is_the_date_in_vietnam(calendar: WorkingCalendar) -> None:
    assert calendar.local_date(datetime(2026, 3, 1, 18, 30, tzinfo=UTC)) == date(2026, 3, 2)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.local_date(datetime(2026, 3, 1, 18, 30))
