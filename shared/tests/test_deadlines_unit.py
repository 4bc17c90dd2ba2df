"""Deadlines as the law and each year's decisions make them (rules and sources: docs/rules.md)."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import holidays
import pytest

from dossierbus_shared.calendar import (
    TimeLimit,
    WorkingCalendar,
    add_months,
    parse_calendar,
    vietnam_calendar,
)
from dossierbus_shared.calendar_cli import main
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import Channel

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def at(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HCM)


@pytest.fixture
def calendar() -> WorkingCalendar:
    return vietnam_calendar()


# Each example of the calendar rules: received at 09:00, the limit in working days, the due date.
@pytest.mark.parametrize(
    ("received", "days", "due", "provisional"),
    [
        # 1 Jan 2026 (statutory) and Fri 2 Jan 2026 (swapped, letter 12729/VPCP-KGVX) are off.
        (at(2025, 12, 31), 1, date(2026, 1, 5), False),
        # Mon 31 Aug 2026 (swapped) and 1-2 Sep 2026 (National Day, second day 1 Sep) are off.
        (at(2026, 8, 28), 1, date(2026, 9, 3), False),
        # Tết Đinh Mùi, Lunar New Year Saturday 6 Feb 2027: 4-10 Feb off (statutory, not yet announced).
        (at(2027, 2, 3), 1, date(2027, 2, 11), True),
        # 30 Apr 2027 Friday; 1 May Saturday, so Monday 3 May off in lieu (Labour Code Art. 112(3)).
        (at(2027, 4, 29), 2, date(2027, 5, 5), True),
        # National Day 2027: Thu 2 Sep and Fri 3 Sep (the second day after it).
        (at(2027, 9, 1), 1, date(2027, 9, 6), True),
    ],
)
def test_the_examples_of_the_calendar_rules(
    calendar: WorkingCalendar, received: datetime, days: int, due: date, provisional: bool
) -> None:
    deadline = calendar.deadline(received, TimeLimit(amount=days))

    assert deadline.due_date == due
    assert deadline.provisional is provisional


@pytest.mark.parametrize("day", [date(2025, 4, 26), date(2026, 1, 10), date(2026, 8, 22)])
def test_make_up_saturdays_of_a_decision_are_working_days(calendar: WorkingCalendar, day: date) -> None:
    assert day.weekday() == 5
    assert calendar.is_working_day(day)


def test_a_deadline_counts_a_make_up_saturday() -> None:
    # Fri 9 Jan 2026 + 1 working day: Saturday 10 Jan is a working day (letter 12729/VPCP-KGVX).
    assert vietnam_calendar().due_date(at(2026, 1, 9), 1) == date(2026, 1, 10)


def test_the_decision_wins_where_the_holidays_package_disagrees(calendar: WorkingCalendar) -> None:
    """The package misses the New Year 2026 swap and lists 24 Nov as a holiday from 2026: the letter
    12729/VPCP-KGVX gives Friday 2 Jan off (made up Saturday 10 Jan), and Labour Code Art. 112 has no
    24 Nov, so the decisions and the law win."""
    statutory = calendar.statutory_days_off(2026)
    package = holidays.country_holidays("VN", years=2026, language="en_US")

    assert date(2026, 1, 2) not in package
    assert not calendar.is_working_day(date(2026, 1, 2))
    assert date(2026, 11, 24) in package
    assert date(2026, 11, 24) not in statutory
    assert calendar.is_working_day(date(2026, 11, 24))


def test_tet_2027_is_computed_from_the_lunar_calendar(calendar: WorkingCalendar) -> None:
    off = calendar.days_off(2027)
    assert [day for day in off if day.month == 2] == [date(2027, 2, day) for day in range(4, 11)]
    assert not calendar.is_announced(2027)


def test_2028_has_its_days_in_lieu(calendar: WorkingCalendar) -> None:
    # 1 Jan 2028 is a Saturday, 30 Apr a Sunday, 2 Sep a Saturday.
    for day in (date(2028, 1, 3), date(2028, 5, 2), date(2028, 9, 1), date(2028, 9, 4)):
        assert not calendar.is_working_day(day), day
    assert calendar.deadline(at(2028, 8, 31), TimeLimit(amount=1)).due_date == date(2028, 9, 5)


def test_a_deadline_ending_in_an_unannounced_year_is_provisional(calendar: WorkingCalendar) -> None:
    deadline = calendar.deadline(at(2026, 12, 30), TimeLimit(amount=3))

    assert deadline.due_date == date(2027, 1, 5)  # Thu 31 Dec, (Fri 1 Jan off), Mon 4, Tue 5
    assert deadline.provisional
    assert deadline.unannounced_years == (2027,)
    assert not calendar.deadline(at(2026, 12, 1), TimeLimit(amount=3)).provisional


def test_birth_registration_is_due_the_same_day_or_the_next_after_15h() -> None:
    """Published limit of 1.001193 and 1.000656: the same day; received after 15:00, the next working day."""
    calendar = vietnam_calendar()
    for code in ("1.001193", "1.000656"):
        procedure = default_catalogue().procedures[code]
        limit = procedure.limit_for(Channel.DIRECT)
        assert limit == procedure.limit_for(Channel.ONLINE)
        assert calendar.deadline(at(2026, 3, 2, 14, 59), limit).due_date == date(2026, 3, 2)
        assert calendar.deadline(at(2026, 3, 2, 15, 0), limit).due_date == date(2026, 3, 3)
        # Friday after 15:00: Monday.
        assert calendar.deadline(at(2026, 3, 6, 15, 30), limit).due_date == date(2026, 3, 9)


def test_linked_group_a_has_three_working_days() -> None:
    """Decision 296/QĐ-VPCP group A (birth, residence, health insurance): at most 3 working days."""
    procedure = default_catalogue().procedures["3.000722"]
    limit = procedure.limit_for(Channel.ONLINE)

    assert (limit.amount, limit.unit, limit.cutoff) == (3, "working_days", time(15, 0))
    assert vietnam_calendar().deadline(at(2026, 3, 2, 16), limit).due_date == date(2026, 3, 6)


def test_online_and_paper_limits_can_differ() -> None:
    procedure = (
        default_catalogue()
        .procedures["1.001193"]
        .model_copy(update={"online_time_limit": TimeLimit(amount=2)})
    )
    assert procedure.limit_for(Channel.ONLINE).amount == 2
    assert procedure.limit_for(Channel.DIRECT).amount == 0
    assert procedure.limit_for(Channel.POSTAL).amount == 0


def test_working_hours_count_office_hours_only(calendar: WorkingCalendar) -> None:
    # Friday 16:00 + 4 office hours: 1 h on Friday, Monday 07:30-10:30.
    deadline = calendar.deadline(at(2026, 3, 6, 16), TimeLimit(amount=4, unit="working_hours"))
    assert deadline.due_at == at(2026, 3, 9, 10, 30)
    assert deadline.due_date == date(2026, 3, 9)
    # Received at lunch: counting starts at 13:00.
    assert calendar.add_working_hours(at(2026, 3, 2, 12), 2) == at(2026, 3, 2, 15)


def test_calendar_days_end_on_a_working_day(calendar: WorkingCalendar) -> None:
    # Mon 2 Mar 2026 + 5 calendar days is Saturday 7 Mar: the term ends Monday 9 Mar.
    limit = TimeLimit(amount=5, unit="calendar_days")
    assert calendar.deadline(at(2026, 3, 2), limit).due_date == date(2026, 3, 9)
    assert calendar.deadline(at(2026, 3, 2), TimeLimit(amount=3, unit="calendar_days")).due_date == date(
        2026, 3, 5
    )


def test_calendar_months_keep_the_day_or_take_the_months_last(calendar: WorkingCalendar) -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    # 2 Mar 2026 + 1 month = Thu 2 Apr 2026, a working day.
    limit = TimeLimit(amount=1, unit="calendar_months")
    assert calendar.deadline(at(2026, 3, 2), limit).due_date == date(2026, 4, 2)


def test_a_make_up_day_must_be_a_weekend_day() -> None:
    document = {
        "timezone": "Asia/Ho_Chi_Minh",
        "closing_time": "17:00",
        "years": {
            2040: {
                "announced": True,
                "working_days": [
                    {
                        "date": date(2040, 3, 5),
                        "name": "x",
                        "decision": "y",
                        "decided_on": 2040,
                        "verified": "I",
                    }
                ],
            }
        },
    }
    with pytest.raises(ValueError, match="not a weekend day"):
        parse_calendar(document)


def test_cli_due_prints_the_date_and_whether_it_is_provisional(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["due", "--received", "2027-02-03T09:00+07:00", "--working-days", "5", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)

    assert answer["due_date"] == "2027-02-17"
    assert answer["deadline_provisional"] is True
    assert answer["unannounced_years"] == [2027]


def test_cli_due_for_a_procedure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["due", "--received", "2026-03-02T15:30+07:00", "--procedure", "1.001193"]) == 0
    out = capsys.readouterr().out
    assert "due 2026-03-03" in out
    assert "final" in out


def test_cli_refuses_a_time_without_offset(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["due", "--received", "2027-02-03T09:00", "--working-days", "5"])
    assert "offset" in capsys.readouterr().err


def test_cli_refuses_an_unknown_procedure() -> None:
    with pytest.raises(SystemExit, match="no procedure"):
        main(["due", "--received", "2027-02-03T09:00+07:00", "--procedure", "9.999999"])


def test_cli_days_lists_each_day_with_its_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["days", "--year", "2027", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)

    assert answer["announced"] is False
    listed = {item["date"]: item["source"] for item in answer["days_off"]}
    assert "2027-02-06" in listed and "2027-05-03" in listed and "2027-09-03" in listed
    assert all("Labour Code" in source or "Điều 112" in source for source in listed.values())

    assert main(["days", "--year", "2026"]) == 0
    text = capsys.readouterr().out
    assert "2026-01-02 Fri  off" in text and "12729/VPCP-KGVX" in text
    assert "2026-01-10 Sat  working" in text


def test_cli_working_days_with_a_procedure_take_its_cut_off(capsys: pytest.CaptureFixture[str]) -> None:
    # 15:30 is after birth registration's 15:00 cut-off: 2 working days from Tuesday 3 Mar 2026.
    received = "2026-03-02T15:30+07:00"
    assert (
        main(["due", "--received", received, "--working-days", "2", "--procedure", "1.001193", "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["due_date"] == "2026-03-05"
    assert main(["due", "--received", received, "--working-days", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["due_date"] == "2026-03-04"


def test_cli_needs_a_limit() -> None:
    with pytest.raises(SystemExit, match="give --working-days"):
        main(["due", "--received", "2027-02-03T09:00+07:00"])
