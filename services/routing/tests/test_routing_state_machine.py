"""The dossier state machine: allowed transitions, what agencies may report, final statuses."""

from __future__ import annotations

import pytest

from dossierbus_routing.domain import IllegalTransition, check_transition, is_final
from dossierbus_shared.events import DossierStatus as S

# Written out independently of the code under test: the expected life cycle of a dossier.
ALLOWED: dict[S, set[S]] = {
    S.RECEIVED: {S.ACCEPTED, S.REJECTED, S.WITHDRAWN},
    S.ACCEPTED: {S.PROCESSING, S.TRANSFERRED, S.REJECTED, S.WITHDRAWN},
    S.PROCESSING: {S.SUPPLEMENT_REQUESTED, S.TRANSFERRED, S.RESULT_READY, S.REJECTED, S.WITHDRAWN},
    S.SUPPLEMENT_REQUESTED: {S.PROCESSING, S.REJECTED, S.WITHDRAWN},
    S.TRANSFERRED: {S.PROCESSING, S.REJECTED, S.WITHDRAWN},
    S.RESULT_READY: {S.RETURNED},
    S.RETURNED: set(),
    S.REJECTED: set(),
    S.WITHDRAWN: set(),
}
NOT_REPORTABLE = {S.RECEIVED, S.ACCEPTED, S.WITHDRAWN, S.TRANSFERRED}


def test_expectation_covers_every_status() -> None:
    assert set(ALLOWED) == set(S)


@pytest.mark.parametrize("current", list(S))
def test_transitions_allowed_to_the_bus(current: S) -> None:
    for requested in S:
        if requested in ALLOWED[current]:
            check_transition(current, requested, by_agency=False)
        else:
            with pytest.raises(IllegalTransition):
                check_transition(current, requested, by_agency=False)


@pytest.mark.parametrize("current", list(S))
def test_transitions_allowed_to_an_agency(current: S) -> None:
    for requested in S:
        if requested in ALLOWED[current] and requested not in NOT_REPORTABLE:
            check_transition(current, requested, by_agency=True)
        else:
            with pytest.raises(IllegalTransition):
                check_transition(current, requested, by_agency=True)


def test_illegal_transition_names_both_statuses_and_the_allowed_ones() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(S.RECEIVED, S.RESULT_READY, by_agency=False)

    error = caught.value
    assert error.current is S.RECEIVED
    assert error.requested is S.RESULT_READY
    assert "'received'" in error.reason
    assert "'result_ready'" in error.reason
    assert "allowed: accepted, rejected, withdrawn" in error.reason
    assert str(error) == error.reason


def test_illegal_transition_by_an_agency_lists_the_allowed_ones() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(S.SUPPLEMENT_REQUESTED, S.RESULT_READY, by_agency=True)

    reason = caught.value.reason
    assert "'supplement_requested'" in reason
    assert "'result_ready'" in reason
    assert "processing, rejected, withdrawn" in reason


@pytest.mark.parametrize("final", [S.RETURNED, S.REJECTED, S.WITHDRAWN])
def test_leaving_a_final_status_says_so(final: S) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(final, S.PROCESSING, by_agency=False)

    assert repr(final.value) in caught.value.reason
    assert "none (final status)" in caught.value.reason


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (S.RECEIVED, S.ACCEPTED),
        (S.PROCESSING, S.WITHDRAWN),
        (S.ACCEPTED, S.TRANSFERRED),
        (S.PROCESSING, S.TRANSFERRED),
    ],
)
def test_agency_may_not_report_bus_or_citizen_statuses(current: S, requested: S) -> None:
    check_transition(current, requested, by_agency=False)  # legal for the bus itself

    with pytest.raises(IllegalTransition) as caught:
        check_transition(current, requested, by_agency=True)

    assert "agency may not report" in caught.value.reason
    assert repr(requested.value) in caught.value.reason
    assert caught.value.requested is requested


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (S.ACCEPTED, S.PROCESSING),
        (S.TRANSFERRED, S.PROCESSING),
        (S.PROCESSING, S.SUPPLEMENT_REQUESTED),
        (S.SUPPLEMENT_REQUESTED, S.PROCESSING),
        (S.PROCESSING, S.RESULT_READY),
        (S.RESULT_READY, S.RETURNED),
        (S.PROCESSING, S.REJECTED),
    ],
)
def test_agency_may_report_its_work(current: S, requested: S) -> None:
    check_transition(current, requested, by_agency=True)


def test_final_statuses() -> None:
    assert {status for status in S if is_final(status)} == {S.RETURNED, S.REJECTED, S.WITHDRAWN}


def test_no_status_moves_to_itself() -> None:
    for status in S:
        with pytest.raises(IllegalTransition):
            check_transition(status, status, by_agency=False)


def test_every_status_is_reachable_from_received() -> None:
    seen = {S.RECEIVED}
    frontier = [S.RECEIVED]
    while frontier:
        current = frontier.pop()
        for requested in S:
            try:
                check_transition(current, requested, by_agency=False)
            except IllegalTransition:
                continue
            if requested not in seen:
                seen.add(requested)
                frontier.append(requested)

    assert seen == set(S)
