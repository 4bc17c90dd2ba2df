"""Deadline rules: the paused clock moves the due date by the paused working days; overdue detection."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from dossierbus_routing.domain.deadlines import is_overdue, resume
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.events import DossierStatus as S

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
calendar = vietnam_calendar()


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=HCM)


def test_a_supplement_sent_the_same_day_moves_nothing() -> None:
    resumed = resume(calendar, date(2026, 3, 6), at(date(2026, 3, 3), 9), at(date(2026, 3, 3), 16))
    assert (resumed.paused_working_days, resumed.due_date) == (0, date(2026, 3, 6))


def test_a_week_paused_moves_the_due_date_by_five_working_days() -> None:
    # Paused Tuesday 3 March 2026, resumed Tuesday 10 March: Wed, Thu, Fri, Mon, Tue.
    resumed = resume(calendar, date(2026, 3, 5), at(date(2026, 3, 3)), at(date(2026, 3, 10)))
    # Thursday 5 March plus five working days: Fri 6, Mon 9, Tue 10, Wed 11, Thu 12.
    assert (resumed.paused_working_days, resumed.due_date) == (5, date(2026, 3, 12))


def test_holidays_neither_count_as_paused_nor_as_working_days_after() -> None:
    # Paused Friday 24 April 2026, resumed Tuesday 5 May: 28, 29 April and 4, 5 May count (27 April,
    # 30 April and 1 May are holidays).
    resumed = resume(calendar, date(2026, 4, 29), at(date(2026, 4, 24)), at(date(2026, 5, 5)))
    # Wednesday 29 April plus four working days: 4, 5, 6, 7 May.
    assert (resumed.paused_working_days, resumed.due_date) == (4, date(2026, 5, 7))


def test_the_pause_is_counted_in_vietnam_time() -> None:
    # 18:00 UTC on Monday 2 March is already Tuesday 3 March in Hanoi: the same day as the resumption.
    paused = datetime(2026, 3, 2, 18, 0, tzinfo=ZoneInfo("UTC"))
    resumed = resume(calendar, date(2026, 3, 5), paused, at(date(2026, 3, 3)))
    assert resumed.paused_working_days == 0


@pytest.mark.parametrize(
    ("status", "due", "today", "overdue"),
    [
        (S.PROCESSING, date(2026, 3, 5), date(2026, 3, 6), True),
        (S.PROCESSING, date(2026, 3, 5), date(2026, 3, 5), False),  # due today is still on time
        (S.ACCEPTED, date(2026, 3, 5), date(2026, 3, 9), True),
        (S.TRANSFERRED, date(2026, 3, 5), date(2026, 3, 9), True),
        (S.RESULT_READY, date(2026, 3, 5), date(2026, 3, 9), True),  # not yet handed to the citizen
        (S.SUPPLEMENT_REQUESTED, date(2026, 3, 5), date(2026, 3, 9), False),  # clock paused
        (S.RETURNED, date(2026, 3, 5), date(2026, 3, 9), False),
        (S.REJECTED, date(2026, 3, 5), date(2026, 3, 9), False),
        (S.WITHDRAWN, date(2026, 3, 5), date(2026, 3, 9), False),
    ],
)
def test_overdue_means_past_the_due_date_neither_final_nor_paused(
    status: S, due: date, today: date, overdue: bool
) -> None:
    assert is_overdue(status, due, today) is overdue
