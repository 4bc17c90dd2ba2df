"""Workflow rules without I/O: the step state machine, which steps start, and the dossier status derived
from its steps, on the shipped linked procedures and on made-up ones."""

from __future__ import annotations

import pytest

from dossierbus_routing.domain import (
    IllegalTransition,
    StepStatus,
    blocked_steps,
    check_step_report,
    derive_status,
    fatal_rejection,
    ready_steps,
    status_path,
)
from dossierbus_shared.catalogue import Procedure, load_catalogue
from dossierbus_shared.events import DossierStatus as S

T = StepStatus
BIRTH_GROUP = load_catalogue().procedures["3.000722"]
PLAIN_BIRTH = load_catalogue().procedures["1.001193"]


def procedure(*steps: dict[str, object]) -> Procedure:
    return Procedure.model_validate(
        {
            "code": "9.000009",
            "version": 1,
            "name": {"vi": "x"},
            "legal_basis": [],
            "processing_working_days": 1,
            "applicant": "citizen",
            "form": {},
            "steps": list(steps),
        }
    )


def group(
    birth: T, residence: T = T.WAITING, insurance: T = T.WAITING, identity: T = T.WAITING
) -> dict[str, T]:
    return {
        "birth-registration": birth,
        "permanent-residence": residence,
        "health-insurance-card": insurance,
        "identity-card": identity,
    }


# --- step state machine -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "reported", "reached"),
    [
        (T.ASSIGNED, S.PROCESSING, T.PROCESSING),
        (T.ASSIGNED, S.REJECTED, T.REJECTED),
        (T.PROCESSING, S.SUPPLEMENT_REQUESTED, T.SUPPLEMENT_REQUESTED),
        (T.SUPPLEMENT_REQUESTED, S.PROCESSING, T.PROCESSING),
        (T.PROCESSING, S.RESULT_READY, T.RESULT_READY),
        (T.RESULT_READY, S.RETURNED, T.RETURNED),
        (T.SUPPLEMENT_REQUESTED, S.REJECTED, T.REJECTED),
    ],
)
def test_agency_reports_move_a_step(current: T, reported: S, reached: T) -> None:
    assert check_step_report(current, reported) is reached


@pytest.mark.parametrize(
    ("current", "reported", "says"),
    [
        (T.ASSIGNED, S.RESULT_READY, "step cannot move from 'assigned' to 'result_ready'"),
        (T.WAITING, S.PROCESSING, "allowed: assigned, cancelled"),
        (T.RETURNED, S.PROCESSING, "none (final status)"),
        (T.CANCELLED, S.RESULT_READY, "none (final status)"),
        (T.PROCESSING, S.WITHDRAWN, "an agency may not report status 'withdrawn'"),
        (T.ASSIGNED, S.ACCEPTED, "an agency may not report status 'accepted'"),
        (T.PROCESSING, S.TRANSFERRED, "an agency may not report status 'transferred'"),
    ],
)
def test_illegal_step_reports_are_refused_with_a_reason(current: T, reported: S, says: str) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_step_report(current, reported)
    assert says in caught.value.reason


# --- which steps start --------------------------------------------------------------------------------


def test_the_birth_group_starts_with_birth_registration_alone() -> None:
    assert [step.id for step in ready_steps(BIRTH_GROUP, group(T.WAITING))] == ["birth-registration"]


@pytest.mark.parametrize("birth", [T.ASSIGNED, T.PROCESSING, T.SUPPLEMENT_REQUESTED])
def test_nothing_else_starts_before_the_birth_has_its_result(birth: T) -> None:
    assert ready_steps(BIRTH_GROUP, group(birth)) == []


@pytest.mark.parametrize("birth", [T.RESULT_READY, T.RETURNED])
def test_the_other_three_start_together_once_the_birth_has_its_result(birth: T) -> None:
    started = [step.id for step in ready_steps(BIRTH_GROUP, group(birth))]
    assert started == ["permanent-residence", "health-insurance-card", "identity-card"]


def test_a_step_after_two_others_waits_for_both() -> None:
    diamond = procedure(
        {"id": "a", "agency": "x1"},
        {"id": "b", "agency": "x2", "after": ["a"]},
        {"id": "c", "agency": "x3", "after": ["a"]},
        {"id": "d", "agency": "x4", "after": ["b", "c"]},
    )
    half = {"a": T.RETURNED, "b": T.RESULT_READY, "c": T.PROCESSING, "d": T.WAITING}
    assert ready_steps(diamond, half) == []
    assert [step.id for step in ready_steps(diamond, half | {"c": T.RETURNED})] == ["d"]


def test_steps_after_a_rejected_step_can_never_start() -> None:
    chain = procedure(
        {"id": "a", "agency": "x1"},
        {"id": "b", "agency": "x2", "after": ["a"], "on_rejection": "continue"},
        {"id": "c", "agency": "x3", "after": ["b"]},
        {"id": "d", "agency": "x4", "after": ["a"]},
    )
    statuses = {"a": T.RETURNED, "b": T.REJECTED, "c": T.WAITING, "d": T.ASSIGNED}
    assert [step.id for step in blocked_steps(chain, statuses)] == ["c"]
    assert blocked_steps(chain, statuses | {"b": T.PROCESSING}) == []


# --- the dossier's status -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (group(T.ASSIGNED), S.ACCEPTED),
        (group(T.PROCESSING), S.PROCESSING),
        (group(T.SUPPLEMENT_REQUESTED), S.SUPPLEMENT_REQUESTED),
        (group(T.RESULT_READY, T.ASSIGNED, T.ASSIGNED, T.ASSIGNED), S.TRANSFERRED),
        (group(T.RETURNED, T.PROCESSING, T.ASSIGNED, T.ASSIGNED), S.PROCESSING),
        (group(T.RETURNED, T.PROCESSING, T.SUPPLEMENT_REQUESTED, T.ASSIGNED), S.SUPPLEMENT_REQUESTED),
        (group(T.RETURNED, T.RESULT_READY, T.RETURNED, T.PROCESSING), S.PROCESSING),
        (group(T.RETURNED, T.RESULT_READY, T.RETURNED, T.RETURNED), S.RESULT_READY),
        (group(T.RETURNED, T.RETURNED, T.RETURNED, T.RETURNED), S.RETURNED),
        # a refused health insurance card ends that step alone (on_rejection: continue)
        (group(T.RETURNED, T.PROCESSING, T.REJECTED, T.ASSIGNED), S.PROCESSING),
        (group(T.RETURNED, T.RETURNED, T.REJECTED, T.RETURNED), S.RETURNED),
        (group(T.RETURNED, T.RESULT_READY, T.REJECTED, T.RETURNED), S.RESULT_READY),
        # without a registered birth the dossier is rejected (on_rejection: reject_dossier)
        (group(T.REJECTED, T.CANCELLED, T.CANCELLED, T.CANCELLED), S.REJECTED),
        (group(T.REJECTED), S.REJECTED),
    ],
)
def test_dossier_status_follows_from_the_birth_groups_steps(steps: dict[str, T], expected: S) -> None:
    assert derive_status(BIRTH_GROUP, steps) is expected


def test_every_follow_up_step_refused_leaves_the_birth_as_the_only_result() -> None:
    steps = group(T.RETURNED, T.REJECTED, T.REJECTED, T.REJECTED)
    assert fatal_rejection(BIRTH_GROUP, steps) is None
    assert derive_status(BIRTH_GROUP, steps) is S.RETURNED


def test_rejection_at_a_parallel_step_that_rejects_the_dossier() -> None:
    strict = procedure(
        {"id": "a", "agency": "x1"},
        {"id": "b", "agency": "x2", "after": ["a"], "on_rejection": "reject_dossier"},
        {"id": "c", "agency": "x3", "after": ["a"], "on_rejection": "continue"},
    )
    statuses = {"a": T.RETURNED, "b": T.REJECTED, "c": T.PROCESSING}
    rejected = fatal_rejection(strict, statuses)
    assert rejected is not None and rejected.id == "b"
    assert derive_status(strict, statuses) is S.REJECTED
    assert fatal_rejection(strict, {"a": T.RETURNED, "b": T.PROCESSING, "c": T.REJECTED}) is None


def test_a_plain_procedure_follows_its_single_step() -> None:
    for step, dossier in [
        (T.ASSIGNED, S.ACCEPTED),
        (T.PROCESSING, S.PROCESSING),
        (T.SUPPLEMENT_REQUESTED, S.SUPPLEMENT_REQUESTED),
        (T.RESULT_READY, S.RESULT_READY),
        (T.RETURNED, S.RETURNED),
        (T.REJECTED, S.REJECTED),
        (T.CANCELLED, S.REJECTED),
    ]:
        assert derive_status(PLAIN_BIRTH, {"birth-registration": step}) is dossier, step


# --- reaching the derived status by allowed transitions -----------------------------------------------


@pytest.mark.parametrize(
    ("current", "target", "path"),
    [
        (S.ACCEPTED, S.PROCESSING, [S.PROCESSING]),
        (S.PROCESSING, S.PROCESSING, []),
        (S.PROCESSING, S.TRANSFERRED, [S.TRANSFERRED]),
        (S.RESULT_READY, S.RETURNED, [S.RETURNED]),
        # the last open step refused (continue) after the others returned their results
        (S.PROCESSING, S.RETURNED, [S.RESULT_READY, S.RETURNED]),
        (S.TRANSFERRED, S.RESULT_READY, [S.PROCESSING, S.RESULT_READY]),
        (S.SUPPLEMENT_REQUESTED, S.TRANSFERRED, [S.PROCESSING, S.TRANSFERRED]),
        (S.ACCEPTED, S.RESULT_READY, [S.PROCESSING, S.RESULT_READY]),
    ],
)
def test_status_path_takes_only_allowed_transitions(current: S, target: S, path: list[S]) -> None:
    assert status_path(current, target) == path


def test_status_path_never_leaves_a_final_status() -> None:
    with pytest.raises(IllegalTransition, match="no way from 'returned' to 'processing'"):
        status_path(S.RETURNED, S.PROCESSING)
