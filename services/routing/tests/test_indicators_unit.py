"""Decision 766 computation: on time or late at the day's edge, in local time and across weekends and
holidays; when an unfinished dossier turns overdue; rates, satisfaction and component points."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from dossierbus_routing.domain.indicators import (
    NEVER,
    Counts,
    finished_on_time,
    judged_as_of,
    overdue_from,
    rate,
    report,
    supersedes_end,
)
from dossierbus_routing.entrypoints.indicator_metrics import IndicatorCollector
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.events import DossierStatus as S

CALENDAR = vietnam_calendar()
HANOI = CALENDAR.timezone


def local(day: date, at: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(at), tzinfo=HANOI)


def on_time(ended_at: datetime, due: date, supplements: int = 0) -> bool:
    return finished_on_time(ended_at, due, supplements, HANOI)


# A one-working-day procedure received Thursday 26 Nov 2026 after closing time starts its clock on Friday
# and is due on Monday 30 Nov.
RECEIVED_AFTER_CLOSING = local(date(2026, 11, 26), "17:30")
DUE_MONDAY = CALENDAR.due_date(RECEIVED_AFTER_CLOSING, 1)


def test_the_example_due_date_is_the_monday_after_the_weekend() -> None:
    assert date(2026, 11, 30) == DUE_MONDAY


@pytest.mark.parametrize(
    ("ended_at", "expected"),
    [
        (local(date(2026, 11, 27), "09:00"), True),  # a day early
        (local(date(2026, 11, 28), "10:00"), True),  # on the Saturday before the due date
        (local(date(2026, 11, 30), "23:59:59"), True),  # the last second of the due day
        (local(date(2026, 12, 1), "00:00"), False),  # the first second after it
        (local(date(2026, 12, 1), "08:00"), False),
    ],
)
def test_on_time_is_judged_on_the_whole_local_due_day(ended_at: datetime, expected: bool) -> None:
    assert on_time(ended_at, DUE_MONDAY) is expected


def test_the_due_day_ends_at_local_midnight_not_utc_midnight() -> None:
    # 17:30 UTC on the due day is already 00:30 the next day in Hà Nội (UTC+7).
    assert on_time(datetime(2026, 11, 30, 16, 59, tzinfo=UTC), DUE_MONDAY)
    assert not on_time(datetime(2026, 11, 30, 17, 30, tzinfo=UTC), DUE_MONDAY)


def test_a_result_on_the_weekend_after_a_friday_due_date_is_late() -> None:
    due_friday = CALENDAR.due_date(local(date(2026, 11, 26), "10:00"), 1)
    assert due_friday == date(2026, 11, 27)
    assert not on_time(local(date(2026, 11, 28), "09:00"), due_friday)


def test_holidays_move_the_due_date_and_the_boundary_with_it() -> None:
    # Received Wednesday 29 Apr 2026: 30 Apr and 1 May are holidays, then a weekend: due Monday 4 May.
    due = CALENDAR.due_date(local(date(2026, 4, 29), "10:00"), 1)
    assert due == date(2026, 5, 4)
    assert on_time(local(date(2026, 5, 1), "11:00"), due)
    assert on_time(local(date(2026, 5, 4), "16:00"), due)
    assert not on_time(local(date(2026, 5, 5), "08:00"), due)


def test_a_second_supplement_request_makes_the_dossier_late_however_early() -> None:
    early = local(date(2026, 11, 27), "09:00")
    assert on_time(early, DUE_MONDAY, supplements=1)
    assert not on_time(early, DUE_MONDAY, supplements=2)


def test_an_end_time_without_a_timezone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        on_time(datetime(2026, 11, 30, 10, 0), DUE_MONDAY)


def test_an_unfinished_dossier_is_overdue_from_the_day_after_its_due_date() -> None:
    assert overdue_from(DUE_MONDAY, 0, date(2026, 11, 27)) == date(2026, 12, 1)
    assert overdue_from(DUE_MONDAY, 1, date(2026, 11, 27)) == date(2026, 12, 1)
    # A second supplement request makes it overdue at once.
    assert overdue_from(DUE_MONDAY, 2, date(2026, 11, 27)) == date(2026, 11, 27)
    assert overdue_from(DUE_MONDAY, 2, date(2026, 12, 3)) == date(2026, 12, 1)


@pytest.mark.parametrize(
    ("recorded", "status", "expected"),
    [
        (None, S.RESULT_READY, True),
        (None, S.RETURNED, True),
        (None, S.REJECTED, True),
        (None, S.WITHDRAWN, True),
        (None, S.PROCESSING, False),
        (None, S.SUPPLEMENT_REQUESTED, False),
        (S.RESULT_READY, S.RETURNED, False),  # "Đã xử lý xong" wins over "Đã trả kết quả"
        (S.RETURNED, S.RESULT_READY, True),
        (S.REJECTED, S.RESULT_READY, True),
        (S.RESULT_READY, S.REJECTED, False),
    ],
)
def test_which_status_marks_the_end_of_processing(recorded: S | None, status: S, expected: bool) -> None:
    assert supersedes_end(recorded, status) is expected


def test_rates_with_nothing_to_measure_are_none_not_zero() -> None:
    assert rate(0, 0) is None
    assert rate(0, 3) == 0.0
    assert rate(2, 3) == 0.6667
    nothing = report(Counts("justice-hanoi", "1.001193"))
    assert nothing["on_time_rate"] is None
    assert nothing["online_rate"] is None
    assert nothing["digitised_results_rate"] is None
    assert nothing["satisfaction"] == {"count": 0, "average": None, "dislikes": 0}
    assert nothing["score"]["points"] is None
    assert all(component["points"] is None for component in nothing["score"]["components"])


def test_satisfaction_average_and_dislikes() -> None:
    rated = report(Counts("a-1", "1.001193", received=3, ratings=3, rating_sum=5 + 5 + 3, dislikes=0))
    assert rated["satisfaction"] == {"count": 3, "average": 4.33, "dislikes": 0}
    one = report(Counts("a-1", "1.001193", received=1, ratings=1, rating_sum=2, dislikes=1))
    assert one["satisfaction"]["average"] == 2.0


def points(counts: Counts) -> dict[str, float | None]:
    return {item["indicator"]: item["points"] for item in report(counts)["score"]["components"]}


def test_component_points_follow_the_766_formulas() -> None:
    counts = Counts(
        "justice-hanoi",
        "1.001193",
        received=10,
        online=4,
        population_data_used=10,
        processed=7,
        on_time=6,
        late=1,
        in_progress=3,
        overdue_in_progress=1,
        with_result=5,
        digitised_results=4,
        digitised_end_to_end=3,
        ratings=4,
        rating_sum=16,
        dislikes=1,
    )
    result = report(counts)
    assert result["on_time_rate"] == round(6 / 7, 4)
    assert result["online_rate"] == 0.4
    assert result["digitised_results_rate"] == 0.8
    assert points(counts) == {
        "2.1": 16.0,  # 20 × (6 on time + 2 unfinished, not yet overdue) / 10
        "3.3": 4.8,  # 6 × 0.4 / 0.5 (full points from 50% online)
        "4.1": 4.8,  # 6 × 4/5
        "4.2": 3.0,  # 4 × (3/5) / 0.8
        "4.5b": 2.0,  # 2 × 10/10
        "5.4": 4.67,  # 6 × (1 − 2/10 overdue − 1/10 dislikes) / 0.9
    }
    assert result["score"]["points"] == 35.27
    assert result["score"]["max_points"] == 44


def test_points_are_capped_at_the_maximum_and_never_negative() -> None:
    all_online = Counts("a-1", "1.001193", received=4, online=4, late=4, processed=4, dislikes=4)
    assert points(all_online)["3.3"] == 6
    assert points(all_online)["5.4"] == 0


def test_gauges_carry_agency_and_procedure_labels_and_omit_unmeasurable_rates() -> None:
    collector = IndicatorCollector()
    collector.snapshot = [
        Counts("justice-hanoi", "1.001193", received=2, online=1, in_progress=2, ratings=1, rating_sum=4),
    ]
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    labels = 'agency="justice-hanoi",procedure="1.001193"'
    assert f"dossierbus_766_received{{{labels}}} 2.0" in text
    assert f"dossierbus_766_online_rate{{{labels}}} 0.5" in text
    assert f"dossierbus_766_satisfaction_average{{{labels}}} 4.0" in text
    # label names come out sorted
    score = 'dossierbus_766_score_points{agency="justice-hanoi",indicator="2.1",procedure="1.001193"}'
    assert f"{score} 20.0" in text
    assert "dossierbus_766_on_time_rate{" not in text  # nothing processed yet
    assert "dossierbus_766_digitised_results_rate{" not in text


def test_gauges_follow_the_snapshot() -> None:
    collector = IndicatorCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    assert "dossierbus_766_received{" not in generate_latest(registry).decode()
    collector.snapshot = [Counts("police-hanoi", "1.000656", received=1, in_progress=1)]
    assert 'dossierbus_766_received{agency="police-hanoi",procedure="1.000656"} 1.0' in (
        generate_latest(registry).decode()
    )


def test_a_dossier_paused_for_its_only_supplement_is_not_overdue_while_it_waits() -> None:
    """Routing does not call a paused dossier overdue (its due date moves when it resumes), and the DVCQG
    766 description judges a lone supplement request at the time of the request: asked on or before the
    due date, the dossier is not overdue while it waits."""
    assert overdue_from(DUE_MONDAY, 1, date(2026, 11, 27), paused=True) == NEVER
    assert overdue_from(DUE_MONDAY, 1, DUE_MONDAY, paused=True) == NEVER
    # Asked after the due date: overdue from the request.
    assert overdue_from(DUE_MONDAY, 1, date(2026, 12, 2), paused=True) == date(2026, 12, 2)
    # A second request is overdue at once, paused or not.
    assert overdue_from(DUE_MONDAY, 2, date(2026, 11, 27), paused=True) == date(2026, 11, 27)


def test_a_past_period_is_judged_at_its_end_not_today() -> None:
    """DVCQG 766 description, indicator 2.1: an unfinished dossier's end time is the end of the period."""
    assert judged_as_of(date(2026, 12, 15), date(2026, 11, 30)) == date(2026, 11, 30)
    assert judged_as_of(date(2026, 12, 15), date(2026, 12, 31)) == date(2026, 12, 15)
    assert judged_as_of(date(2026, 12, 15), None) == date(2026, 12, 15)
