"""The dossier state machine, free of I/O."""

from __future__ import annotations

from dossierbus_shared.events import DossierStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.RECEIVED: frozenset({S.ACCEPTED, S.REJECTED, S.WITHDRAWN}),
    S.ACCEPTED: frozenset({S.PROCESSING, S.TRANSFERRED, S.REJECTED, S.WITHDRAWN}),
    S.PROCESSING: frozenset({S.SUPPLEMENT_REQUESTED, S.TRANSFERRED, S.RESULT_READY, S.REJECTED, S.WITHDRAWN}),
    S.SUPPLEMENT_REQUESTED: frozenset({S.PROCESSING, S.REJECTED, S.WITHDRAWN}),
    S.TRANSFERRED: frozenset({S.PROCESSING, S.REJECTED}),
    S.RESULT_READY: frozenset({S.RETURNED}),
    S.RETURNED: frozenset(),
    S.REJECTED: frozenset(),
    S.WITHDRAWN: frozenset(),
}

# What an agency may report about a step it handles; the rest are the bus's or the citizen's to set.
REPORTABLE = frozenset({S.PROCESSING, S.SUPPLEMENT_REQUESTED, S.RESULT_READY, S.RETURNED, S.REJECTED})


class IllegalTransition(Exception):
    def __init__(self, current: S, requested: S, reason: str) -> None:
        super().__init__(reason)
        self.current = current
        self.requested = requested
        self.reason = reason


def check_transition(current: S, requested: S, *, by_agency: bool) -> None:
    if by_agency and requested not in REPORTABLE:
        raise IllegalTransition(current, requested, f"an agency may not report status {requested.value!r}")
    if requested not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(status.value for status in TRANSITIONS[current])) or "none (final status)"
        raise IllegalTransition(
            current,
            requested,
            f"cannot move from {current.value!r} to {requested.value!r}; allowed: {allowed}",
        )


def is_final(status: S) -> bool:
    return not TRANSITIONS[status]
