"""The dossier and step state machines: which status may follow which, and who may set it.

A dossier is the citizen's request; a step is one agency's part of its procedure (one step for a plain
procedure, several for a linked one). Agencies report on steps; the dossier's status follows from them
(rules.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from dossierbus_shared.events import DossierStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.RECEIVED: frozenset({S.ACCEPTED, S.REJECTED, S.WITHDRAWN}),
    S.ACCEPTED: frozenset({S.PROCESSING, S.TRANSFERRED, S.REJECTED, S.WITHDRAWN}),
    S.PROCESSING: frozenset({S.SUPPLEMENT_REQUESTED, S.TRANSFERRED, S.RESULT_READY, S.REJECTED, S.WITHDRAWN}),
    S.SUPPLEMENT_REQUESTED: frozenset({S.PROCESSING, S.REJECTED, S.WITHDRAWN}),
    # A linked dossier waits at the next agencies; the citizen may still withdraw it there.
    S.TRANSFERRED: frozenset({S.PROCESSING, S.REJECTED, S.WITHDRAWN}),
    S.RESULT_READY: frozenset({S.RETURNED}),
    S.RETURNED: frozenset(),
    S.REJECTED: frozenset(),
    S.WITHDRAWN: frozenset(),
}

# What an agency may report about a step it handles; the rest are the bus's or the citizen's to set.
REPORTABLE = frozenset({S.PROCESSING, S.SUPPLEMENT_REQUESTED, S.RESULT_READY, S.RETURNED, S.REJECTED})


V = TypeVar("V", bound=StrEnum)


class IllegalTransition(Exception):
    def __init__(self, current: str, requested: str, reason: str) -> None:
        super().__init__(reason)
        self.current = current
        self.requested = requested
        self.reason = reason


def check_transition(current: S, requested: S, *, by_agency: bool) -> None:
    if by_agency and requested not in REPORTABLE:
        raise IllegalTransition(current, requested, f"an agency may not report status {requested.value!r}")
    _check(TRANSITIONS, current, requested)


def is_final(status: S) -> bool:
    return not TRANSITIONS[status]


class StepStatus(StrEnum):
    """Where one agency step stands. The statuses an agency reports have the dossier statuses' names."""

    WAITING = "waiting"  # for the steps it comes after
    ASSIGNED = "assigned"  # on the agency's inbox
    PROCESSING = "processing"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    RESULT_READY = "result_ready"
    RETURNED = "returned"
    REJECTED = "rejected"
    CANCELLED = "cancelled"  # the dossier was withdrawn, or rejected at another step


T = StepStatus
STEP_TRANSITIONS: dict[T, frozenset[T]] = {
    T.WAITING: frozenset({T.ASSIGNED, T.CANCELLED}),
    T.ASSIGNED: frozenset({T.PROCESSING, T.REJECTED, T.CANCELLED}),
    T.PROCESSING: frozenset({T.SUPPLEMENT_REQUESTED, T.RESULT_READY, T.REJECTED, T.CANCELLED}),
    T.SUPPLEMENT_REQUESTED: frozenset({T.PROCESSING, T.REJECTED, T.CANCELLED}),
    T.RESULT_READY: frozenset({T.RETURNED}),
    T.RETURNED: frozenset(),
    T.REJECTED: frozenset(),
    T.CANCELLED: frozenset(),
}
STEP_REPORTABLE = frozenset({T.PROCESSING, T.SUPPLEMENT_REQUESTED, T.RESULT_READY, T.RETURNED, T.REJECTED})
DONE = frozenset({T.RESULT_READY, T.RETURNED})
"""The step has its result: the steps after it may start."""
ENDED = frozenset({T.RETURNED, T.REJECTED, T.CANCELLED})
OPEN = frozenset({T.WAITING, T.ASSIGNED, T.PROCESSING, T.SUPPLEMENT_REQUESTED})


def check_step_report(current: T, reported: S) -> T:
    """The step status an agency's report moves a step to; IllegalTransition saying why not."""
    if reported not in REPORTABLE:
        raise IllegalTransition(current, reported, f"an agency may not report status {reported.value!r}")
    requested = T(reported.value)
    _check(STEP_TRANSITIONS, current, requested, what="step")
    return requested


def check_step_transition(current: T, requested: T) -> None:
    _check(STEP_TRANSITIONS, current, requested, what="step")


def _check(table: Mapping[V, frozenset[V]], current: V, requested: V, what: str = "") -> None:
    if requested not in table[current]:
        allowed = ", ".join(sorted(status.value for status in table[current])) or "none (final status)"
        subject = f"{what} " if what else ""
        raise IllegalTransition(
            current,
            requested,
            f"{subject}cannot move from {current.value!r} to {requested.value!r}; allowed: {allowed}",
        )
