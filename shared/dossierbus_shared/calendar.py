"""Working-day arithmetic for deadlines: weekends and public holidays from a versioned calendar file.

Rule: a dossier received on a working day before closing time starts its clock that day; otherwise on
the next working day. The appointment date is that start day moved forward by the procedure's number of
working days (so a 3-day procedure received Monday 10:00 is due Thursday).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

import yaml

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkingCalendar:
    timezone: ZoneInfo
    closing_time: time
    holidays: frozenset[date]
    covered_years: frozenset[int]
    fixed_holidays: tuple[tuple[int, int], ...] = field(default=())

    def is_working_day(self, day: date) -> bool:
        if day.weekday() >= 5:
            return False
        if day.year in self.covered_years:
            return day not in self.holidays
        # Beyond the published years only the fixed-date holidays are certain.
        return (day.month, day.day) not in self.fixed_holidays

    def clock_start(self, received_at: datetime) -> date:
        local = received_at.astimezone(self.timezone)
        day = local.date()
        if self.is_working_day(day) and local.time() < self.closing_time:
            return day
        return self.next_working_day(day)

    def next_working_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: date, days: int) -> date:
        if days < 0:
            raise ValueError("days must not be negative")
        for _ in range(days):
            start = self.next_working_day(start)
        return start

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end`: how far a clock stopped on `start` and
        restarted on `end` is behind (0 when both are the same day)."""
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count

    def local_date(self, at: datetime) -> date:
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        return at.astimezone(self.timezone).date()

    def due_date(self, received_at: datetime, working_days: int) -> date:
        if received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        if received_at.year not in self.covered_years:
            log.warning(
                "holiday calendar has no entry for %s; only fixed-date holidays apply", received_at.year
            )
        return self.add_working_days(self.clock_start(received_at), working_days)


@cache
def vietnam_calendar() -> WorkingCalendar:
    source = (
        resources.files("dossierbus_shared.catalogue").joinpath("vn-public-holidays.yaml").read_text("utf-8")
    )
    return parse_calendar(yaml.safe_load(source))


def parse_calendar(document: dict) -> WorkingCalendar:  # type: ignore[type-arg]
    years: dict[int, list[date]] = document["years"]
    return WorkingCalendar(
        timezone=ZoneInfo(document["timezone"]),
        closing_time=time.fromisoformat(document["closing_time"]),
        holidays=frozenset(day for days in years.values() for day in days),
        covered_years=frozenset(int(year) for year in years),
        fixed_holidays=tuple(
            (int(m), int(d)) for m, d in (item.split("-") for item in document["fixed_holidays"])
        ),
    )
