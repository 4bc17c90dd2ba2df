"""The workflow rules: which steps start, which never can, and the dossier's status derived from its
steps' (the rules are listed, in order, in docs/routing.md)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from dossierbus_routing.domain.statuses import (
    DONE,
    ENDED,
    TRANSITIONS,
    IllegalTransition,
    StepStatus,
    is_final,
)
from dossierbus_shared.catalogue import Procedure, Step
from dossierbus_shared.events import DossierStatus as S

T = StepStatus


def ready_steps(procedure: Procedure, steps: Mapping[str, T]) -> list[Step]:
    """Waiting steps whose every predecessor has its result: to be assigned now."""
    return [
        step
        for step in procedure.steps
        if steps[step.id] is T.WAITING and all(steps[before] in DONE for before in step.after)
    ]


def blocked_steps(procedure: Procedure, steps: Mapping[str, T]) -> list[Step]:
    """Waiting steps that can never start: a step they need was rejected or cancelled."""
    return [
        step
        for step in procedure.steps
        if steps[step.id] is T.WAITING
        and any(steps[before] in {T.REJECTED, T.CANCELLED} for before in step.after)
    ]


def fatal_rejection(procedure: Procedure, steps: Mapping[str, T]) -> Step | None:
    """The rejected step whose procedure says a rejection there rejects the whole dossier, if any."""
    return next(
        (
            step
            for step in procedure.steps
            if steps[step.id] is T.REJECTED and step.on_rejection == "reject_dossier"
        ),
        None,
    )


def derive_status(procedure: Procedure, steps: Mapping[str, T]) -> S:
    """The dossier's status from its steps' (the rules are listed, in order, in docs/routing.md)."""
    if fatal_rejection(procedure, steps) is not None:
        return S.REJECTED
    statuses = [steps[step.id] for step in procedure.steps]
    if all(status in ENDED for status in statuses):
        return S.RETURNED if T.RETURNED in statuses else S.REJECTED
    if all(status in DONE | ENDED for status in statuses):
        return S.RESULT_READY
    if T.SUPPLEMENT_REQUESTED in statuses:
        return S.SUPPLEMENT_REQUESTED  # the dossier waits for the citizen: its clock is paused
    if T.PROCESSING in statuses:
        return S.PROCESSING
    if any(status in DONE for status in statuses):
        return S.TRANSFERRED  # a step has its result and the next agencies have not started yet
    return S.ACCEPTED


def status_path(current: S, target: S) -> list[S]:
    """The statuses a dossier passes through to reach `target` by allowed transitions (the shortest way).

    Usually just [target]. A linked dossier can need a stop on the way: when the last open step is
    rejected with `continue` after the others returned their results, processing → result_ready →
    returned.
    """
    if target is current:
        return []
    previous: dict[S, S] = {}
    queue = deque([current])
    while queue:
        status = queue.popleft()
        for following in sorted(TRANSITIONS[status]):
            if following in previous or following is current:
                continue
            previous[following] = status
            if following is target:
                path = [target]
                while previous[path[-1]] is not current:
                    path.append(previous[path[-1]])
                return path[::-1]
            if not is_final(following):
                queue.append(following)
    raise IllegalTransition(current, target, f"no way from {current.value!r} to {target.value!r}")
