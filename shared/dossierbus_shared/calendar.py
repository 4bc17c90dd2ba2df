"""Working days and deadlines: the statutory holidays of the Labour Code, each year's official decisions,
and a procedure's time limit as the law writes it.

Non-working days of a year =
  weekends (Saturday, Sunday; a civil servant's week is Monday to Friday, Decree 45/2013 Art. 3 [I])
  + the statutory holidays of Labour Code 45/2019/QH14 Art. 112, with the days off in lieu when one falls
    on a weekend, as computed by the `holidays` package (lunar dates included)
  + the days off a decision of that year grants (swapped days)
  - the Saturdays a decision makes working days (make-up days for a swap)
  - holidays the package lists that are not in Art. 112 as in force (`not_in_law` in the overrides file).
The decisions are in `catalogue/vn-public-holidays.yaml`, each with its number, date and how it was
verified; where the package and a decision disagree the decision wins. A year whose schedule the
government has not announced is computed from the statutory rules alone, and every deadline that runs
through it is *provisional*: it is said so on the appointment slip, in the events and on the timeline.

A deadline starts its clock on the day of receipt when that is a working day and the dossier came before
the cut-off time (the procedure's own, else the closing time); otherwise on the next working day. `N`
working days after that start day is the due date, so 0 working days is "the same day".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from importlib.metadata import version
from typing import Any, Literal
from zoneinfo import ZoneInfo

import holidays
import yaml
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

PROVISIONAL_DEADLINES = Counter(
    "dossierbus_provisional_deadlines",
    "Deadlines issued that run through a year whose holiday schedule is not yet announced, by where they "
    "were issued (submitted: the appointment slip; assigned: an agency's step)",
    ["issued_on"],
)

Unit = Literal["working_days", "working_hours", "calendar_days", "calendar_months"]


class TimeLimit(BaseModel):
    """A time limit as the law writes it (thời hạn giải quyết): an amount of a unit, and the time of day
    after which a dossier counts as received the next working day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: int = Field(ge=0, description="0 working days: the same day")
    unit: Unit = "working_days"
    cutoff: time | None = Field(
        default=None, description="Received after this (local time): the clock starts the next working day"
    )
    basis: str | None = Field(default=None, description="The legal text that sets this limit, and its status")

    def describe(self) -> str:
        text = (
            "the same working day"
            if self.amount == 0 and self.unit == "working_days"
            else f"{self.amount} {self.unit.replace('_', ' ')}"
        )
        if self.cutoff:
            text += f" (received after {self.cutoff:%H:%M}: from the next working day)"
        return text


@dataclass(frozen=True)
class DayOff:
    day: date
    name: str
    source: str


@dataclass(frozen=True)
class Deadline:
    due_date: date
    clock_start: date
    provisional: bool
    """True when the deadline runs through a year whose schedule is not announced."""
    due_at: datetime | None = None
    """The moment it falls due, for limits in working hours."""
    unannounced_years: tuple[int, ...] = ()

    def explain(self) -> str:
        if not self.provisional:
            return "final: every year it runs through has an announced schedule"
        years = ", ".join(str(year) for year in self.unannounced_years)
        return f"provisional: the holiday schedule of {years} is not yet announced (statutory rules only)"


@dataclass(frozen=True)
class YearDecisions:
    """What the official decisions of one year say about days off and working days."""

    announced: bool
    days_off: Mapping[date, DayOff] = field(default_factory=dict)
    working_days: Mapping[date, DayOff] = field(default_factory=dict)
    not_days_off: Mapping[date, DayOff] = field(default_factory=dict)
    """Days the `holidays` package lists that the decision does not give off."""


@dataclass
class WorkingCalendar:
    timezone: ZoneInfo
    closing_time: time
    working_hours: tuple[tuple[time, time], ...]
    decisions: Mapping[int, YearDecisions]
    not_in_law: Mapping[str, str] = field(default_factory=dict)
    """Names of holidays the package lists that are not in Art. 112 as in force, with the reason."""
    statutory_source: str = "Labour Code 45/2019/QH14 Art. 112"
    _years: dict[int, dict[date, DayOff]] = field(default_factory=dict, repr=False)

    # --- days --------------------------------------------------------------------------------------

    def is_announced(self, year: int) -> bool:
        decisions = self.decisions.get(year)
        return bool(decisions and decisions.announced)

    def statutory_days_off(self, year: int) -> dict[date, DayOff]:
        """The Art. 112 holidays and days off in lieu of the year, as the `holidays` package computes them."""
        computed = holidays.country_holidays("VN", years=year, language="en_US")
        source = f"statutory: {self.statutory_source} (holidays {version('holidays')})"
        return {
            day: DayOff(day, name, source)
            for day, name in sorted(computed.items())
            if not any(excluded in name for excluded in self.not_in_law)
        }

    def days_off(self, year: int) -> dict[date, DayOff]:
        """Every non-working day of the year other than an ordinary weekend, with its source."""
        if year not in self._years:
            days = self.statutory_days_off(year)
            decisions = self.decisions.get(year)
            if decisions is not None:
                days |= dict(decisions.days_off)
                for day in (*decisions.working_days, *decisions.not_days_off):
                    days.pop(day, None)
            self._years[year] = dict(sorted(days.items()))
        return self._years[year]

    def make_up_working_days(self, year: int) -> dict[date, DayOff]:
        decisions = self.decisions.get(year)
        return dict(decisions.working_days) if decisions else {}

    def is_working_day(self, day: date) -> bool:
        if day in self.make_up_working_days(day.year):
            return True
        return day.weekday() < 5 and day not in self.days_off(day.year)

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
        return self._local(at).date()

    def _local(self, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        return at.astimezone(self.timezone)

    # --- deadlines ---------------------------------------------------------------------------------

    def clock_start(self, received_at: datetime, cutoff: time | None = None) -> date:
        local = self._local(received_at)
        day = local.date()
        if self.is_working_day(day) and local.time() < min(cutoff or self.closing_time, self.closing_time):
            return day
        return self.next_working_day(day)

    def unannounced_years(self, start: date, end: date) -> tuple[int, ...]:
        return tuple(year for year in range(start.year, end.year + 1) if not self.is_announced(year))

    def is_provisional(self, start: date, end: date) -> bool:
        """Whether a deadline running from `start` to `end` crosses a year with no announced schedule."""
        return bool(self.unannounced_years(start, end))

    def deadline(self, received_at: datetime, limit: TimeLimit) -> Deadline:
        local = self._local(received_at)
        start = self.clock_start(received_at, limit.cutoff)
        due_at: datetime | None = None
        match limit.unit:
            case "working_days":
                due = self.add_working_days(start, limit.amount)
            case "working_hours":
                due_at = self.add_working_hours(received_at, limit.amount)
                due = due_at.date()
            case "calendar_days":
                due = self._roll_forward(start + timedelta(days=limit.amount))
            case "calendar_months":
                due = self._roll_forward(add_months(start, limit.amount))
        first = min(local.date(), start)
        years = self.unannounced_years(first, due)
        return Deadline(due, start, bool(years), due_at, years)

    def due_date(self, received_at: datetime, working_days: int) -> date:
        """The due date of a limit in whole working days (the clock starts as `clock_start` says)."""
        return self.deadline(received_at, TimeLimit(amount=working_days)).due_date

    def _roll_forward(self, day: date) -> date:
        """A term in calendar days or months whose last day is not a working day ends on the next
        working day (Civil Code 91/2015/QH13 Art. 148 [I])."""
        return day if self.is_working_day(day) else self.next_working_day(day)

    def add_working_hours(self, received_at: datetime, hours: int) -> datetime:
        """The moment `hours` office hours after receipt, counting only the office hours of working days."""
        local = self._local(received_at)
        remaining = timedelta(hours=hours)
        day = local.date()
        cursor = local
        while True:
            if self.is_working_day(day):
                for opens, closes in self.working_hours:
                    window_start = max(cursor, datetime.combine(day, opens, self.timezone))
                    window_end = datetime.combine(day, closes, self.timezone)
                    if window_start >= window_end:
                        continue
                    available = window_end - window_start
                    if remaining <= available:
                        return window_start + remaining
                    remaining -= available
            day += timedelta(days=1)
            cursor = datetime.combine(day, time(0), self.timezone)


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the month's last day when it has no such day (Civil Code Art. 148 [I])."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    following = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, min(day.day, (following - timedelta(days=1)).day))


# --- the overrides file ----------------------------------------------------------------------------


@cache
def vietnam_calendar() -> WorkingCalendar:
    source = (
        resources.files("dossierbus_shared.catalogue").joinpath("vn-public-holidays.yaml").read_text("utf-8")
    )
    return parse_calendar(yaml.safe_load(source))


def _entries(items: Iterable[Mapping[str, Any]] | None, kind: str) -> dict[date, DayOff]:
    entries: dict[date, DayOff] = {}
    for item in items or ():
        day = item["date"]
        if not isinstance(day, date):
            raise ValueError(f"{kind}: {day!r} is not a date (YYYY-MM-DD)")
        source = f"{item['decision']} ({item['decided_on']}) [{item['verified']}]"
        entries[day] = DayOff(day, str(item["name"]), source)
    return entries


def parse_calendar(document: Mapping[str, Any]) -> WorkingCalendar:
    decisions: dict[int, YearDecisions] = {}
    for year, entry in (document.get("years") or {}).items():
        entry = entry or {}
        parsed = YearDecisions(
            announced=bool(entry.get("announced", False)),
            days_off=_entries(entry.get("days_off"), "days_off"),
            working_days=_entries(entry.get("working_days"), "working_days"),
            not_days_off=_entries(entry.get("not_days_off"), "not_days_off"),
        )
        for day in (*parsed.days_off, *parsed.working_days, *parsed.not_days_off):
            if day.year != int(year):
                raise ValueError(f"year {year}: {day.isoformat()} belongs to another year")
        for day in parsed.working_days:
            if day.weekday() < 5:
                raise ValueError(f"year {year}: make-up working day {day.isoformat()} is not a weekend day")
        decisions[int(year)] = parsed
    return WorkingCalendar(
        timezone=ZoneInfo(document["timezone"]),
        closing_time=time.fromisoformat(document["closing_time"]),
        working_hours=tuple(
            (time.fromisoformat(opens), time.fromisoformat(closes))
            for opens, closes in document.get("working_hours", [["08:00", "12:00"], ["13:00", "17:00"]])
        ),
        decisions=decisions,
        not_in_law={item["name"]: item["why"] for item in document.get("not_in_law") or ()},
        statutory_source=document.get("statutory_source", "Labour Code 45/2019/QH14 Art. 112"),
    )
