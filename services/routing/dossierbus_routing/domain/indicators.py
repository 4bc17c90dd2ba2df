"""Decision 766 service-quality indicators, free of I/O: when a dossier's processing ends and whether that
was on time, when an unfinished dossier becomes overdue, and how counts per agency and procedure become
rates and the points of the 766 components the bus can measure.

The formulas follow the DVCQG implementation description (docs/indicators-766.md lists each one, its
source and what is unverified).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dossierbus_shared.events import DossierStatus as S

# Which status marks the end of processing when several occur: "Đã xử lý xong" (result ready) wins over
# "Đã trả kết quả" (returned), which wins over a refusal or a withdrawal.
END_PRIORITY: dict[S, int] = {S.RESULT_READY: 3, S.RETURNED: 2, S.REJECTED: 1, S.WITHDRAWN: 1}
RESULT_STATUSES = frozenset({S.RESULT_READY, S.RETURNED})
DISLIKE_AT_MOST = 2
"""A rating of 1 or 2 out of 5 counts as a "dislike" in indicator 5.4."""


def supersedes_end(current: S | None, status: S) -> bool:
    """Whether `status` becomes the dossier's end of processing, given the end recorded so far."""
    rank = END_PRIORITY.get(status, 0)
    return rank > 0 and rank > (END_PRIORITY.get(current, 0) if current else 0)


def finished_on_time(
    ended_at: datetime, due_date: date, supplement_requests: int, timezone: ZoneInfo
) -> bool:
    """On time when processing ended no later than the appointment day (local time, the whole day counts)
    and the applicant was asked for a supplement at most once: a second request counts as overdue."""
    if ended_at.tzinfo is None:
        raise ValueError("ended_at must be timezone-aware")
    return supplement_requests <= 1 and ended_at.astimezone(timezone).date() <= due_date


NEVER = date.max
"""`overdue_from` of a dossier that cannot become overdue in its current state (the column is not null)."""


def overdue_from(due_date: date, supplement_requests: int, changed_on: date, *, paused: bool = False) -> date:
    """The first local day on which an unfinished dossier counts as overdue.

    A second supplement request makes it overdue at once. A dossier paused for its only supplement
    request is judged at the time of that request (DVCQG 766 description: a lone "Yêu cầu bổ sung" is the
    end time), as routing judges it: not overdue while it waits when asked on or before its due date,
    overdue from the request when asked after it."""
    after_due = due_date + timedelta(days=1)
    if supplement_requests > 1:
        return min(after_due, changed_on)
    if paused:
        return changed_on if changed_on > due_date else NEVER
    return after_due


def judged_as_of(today: date, received_to: date | None) -> date:
    """The day unfinished dossiers are judged on: the period's last day for a past period (DVCQG 766
    description: an unfinished dossier's end time is the end of the period), else today."""
    return min(today, received_to) if received_to else today


def rate(part: int, whole: int) -> float | None:
    """part/whole rounded to 4 places; None when there is nothing to measure."""
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class Counts:
    """What the projection counts for one agency and procedure over a period of receipt."""

    agency_code: str
    procedure_code: str
    received: int = 0
    online: int = 0
    population_data_used: int = 0
    processed: int = 0
    on_time: int = 0
    late: int = 0
    in_progress: int = 0
    overdue_in_progress: int = 0
    with_result: int = 0
    digitised_results: int = 0
    digitised_end_to_end: int = 0
    ratings: int = 0
    rating_sum: int = 0
    dislikes: int = 0
    fee_required: int = 0
    paid_online: int = 0


@dataclass(frozen=True)
class Component:
    """A Decision 766 sub-indicator: `points = min(max_points, max_points × ratio / full_at)`."""

    code: str
    name: str
    max_points: float
    full_at: float = 1.0

    def points(self, ratio: float | None) -> float | None:
        if ratio is None:
            return None
        return round(float(min(self.max_points, self.max_points * max(ratio, 0.0) / self.full_at)), 2)


ON_TIME = Component("2.1", "dossiers processed early or on time", 20)
ONLINE = Component("3.3", "dossiers submitted online", 6, full_at=0.5)
ELECTRONIC_RESULT = Component("4.1", "dossiers with an electronic result", 6)
DIGITISED = Component("4.2", "dossiers digitised (components and result)", 4, full_at=0.8)
POPULATION_DATA = Component("4.5b", "dossiers using national population data", 2)
SATISFACTION = Component("5.4", "satisfaction with receiving and processing", 6, full_at=0.9)
PAID_ONLINE = Component("3.6", "dossiers with fees paid online", 6)
"""Measured only for procedures with a fee (its denominator: dossiers of TTHC with a non-zero fee)."""


def component_ratios(counts: Counts) -> dict[Component, float | None]:
    c = counts
    # Unfinished dossiers not yet overdue count as on time: the end of the period stands in for their end.
    on_time_so_far = c.on_time + c.in_progress - c.overdue_in_progress
    satisfied = (
        None
        if not c.received
        else round(1 - (c.late + c.overdue_in_progress) / c.received - c.dislikes / c.received, 4)
    )
    return {
        ON_TIME: rate(on_time_so_far, c.received),
        ONLINE: rate(c.online, c.received),
        ELECTRONIC_RESULT: rate(c.digitised_results, c.with_result),
        DIGITISED: rate(c.digitised_end_to_end, c.with_result),
        POPULATION_DATA: rate(c.population_data_used, c.received),
        SATISFACTION: satisfied,
        **({PAID_ONLINE: rate(c.paid_online, c.fee_required)} if c.fee_required else {}),
    }


def report(counts: Counts) -> dict[str, Any]:
    """The indicators of one agency and procedure, as served over HTTP."""
    c = counts
    components: list[dict[str, Any]] = [
        {
            "indicator": component.code,
            "name": component.name,
            "ratio": ratio,
            "points": component.points(ratio),
            "max_points": component.max_points,
        }
        for component, ratio in component_ratios(c).items()
    ]
    measured = [item for item in components if item["points"] is not None]
    return {
        "agency_code": c.agency_code,
        "procedure_code": c.procedure_code,
        "received": c.received,
        "processed": c.processed,
        "on_time": c.on_time,
        "late": c.late,
        "on_time_rate": rate(c.on_time, c.processed),
        "in_progress": c.in_progress,
        "overdue_in_progress": c.overdue_in_progress,
        "online": c.online,
        "online_rate": rate(c.online, c.received),
        "with_result": c.with_result,
        "digitised_results": c.digitised_results,
        "digitised_results_rate": rate(c.digitised_results, c.with_result),
        "fee_required": c.fee_required,
        "paid_online": c.paid_online,
        "paid_online_rate": rate(c.paid_online, c.fee_required),
        "satisfaction": {
            "count": c.ratings,
            "average": round(c.rating_sum / c.ratings, 2) if c.ratings else None,
            "dislikes": c.dislikes,
        },
        "score": {
            # Of the components that could be measured: a component with nothing to measure is left out.
            "points": round(sum(item["points"] for item in measured), 2) if measured else None,
            "max_points": sum(item["max_points"] for item in measured),
            "components": components,
        },
    }
