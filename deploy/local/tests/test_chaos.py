"""The chaos run's schedule of faults and its verdict (the run itself: tests/test_chaos.py)."""

from __future__ import annotations

import dataclasses

import pytest

from dossierbus_devstack.chaos import DatabaseCrash, Figures, Kill, every_service_and_the_database
from dossierbus_devstack.services import SERVICES


def test_every_service_is_killed_once_and_the_database_crashes_within_the_load() -> None:
    faults = every_service_and_the_database(SERVICES, load_s=60, outage_s=5)
    kills = [fault for fault in faults if isinstance(fault, Kill)]
    crashes = [fault for fault in faults if isinstance(fault, DatabaseCrash)]
    assert sorted(kill.service for kill in kills) == sorted(SERVICES)
    assert crashes == [DatabaseCrash(at_s=crashes[0].at_s, for_s=5)]
    assert all(0 < fault.at_s <= 40 for fault in faults), "within the first two thirds of the load"
    assert len({fault.at_s for fault in faults}) == len(faults), "one fault at a time"

    assert {kill.replica for kill in kills} == {0}, "one process per service: that one"


def test_with_replicas_the_first_or_the_second_is_killed_in_turn() -> None:
    counts = {"intake": 2, "registry": 2, "routing": 2, "notifications": 2, "console": 1}
    kills = [
        fault
        for fault in every_service_and_the_database(SERVICES, load_s=60, outage_s=5, replicas=counts)
        if isinstance(fault, Kill)
    ]
    assert [(kill.service, kill.replica) for kill in kills] == [
        ("intake", 0),
        ("registry", 1),
        ("routing", 0),
        ("notifications", 1),
        ("console", 0),
    ]


HEALED = Figures(
    submitted=10,
    accepted=10,
    server_errors=0,
    final=10,
    not_final=[],
    timeline_repeats=0,
    out_of_order=0,
    verification_repeats=0,
    access_log_repeats=0,
    dead_letters=0,
    unsent_events=0,
    emails_expected=40,
    emails_delivered=40,
    emails_repeated=2,
    in_flight_allowance=2,
    drained_s=12.5,
)


def test_a_run_within_every_bound_is_healed() -> None:
    assert HEALED.healed
    assert HEALED.lines()[-1].endswith("yes")


@pytest.mark.parametrize(
    "change",
    [
        {"final": 9, "not_final": ["000.00.01.H26-261126-0001"]},
        {"server_errors": 1},
        {"timeline_repeats": 1},
        {"out_of_order": 1},
        {"verification_repeats": 1},
        {"access_log_repeats": 1},
        {"dead_letters": 1},
        {"unsent_events": 1},
        {"emails_delivered": 39},
        {"emails_repeated": 3},
        {"drained_s": None},
    ],
)
def test_any_figure_out_of_bounds_is_not_healed(change: dict[str, object]) -> None:
    figures = dataclasses.replace(HEALED, **change)  # type: ignore[arg-type]
    assert not figures.healed
    assert figures.lines()[-1].endswith("NO")
