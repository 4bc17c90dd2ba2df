"""Routing's domain, free of I/O: the state machines, the workflow and deadline rules, and the `Dossier`
aggregate that applies them."""

from dossierbus_routing.domain.dossier import (
    NEUTRAL_REJECTION,
    SOURCE,
    Cause,
    Context,
    Dossier,
    Step,
    TimelineEntry,
    UnknownProcedure,
    UnknownStep,
)
from dossierbus_routing.domain.rules import (
    blocked_steps,
    derive_status,
    fatal_rejection,
    ready_steps,
    status_path,
)
from dossierbus_routing.domain.statuses import (
    DONE,
    ENDED,
    OPEN,
    REPORTABLE,
    TRANSITIONS,
    IllegalTransition,
    StepStatus,
    check_step_report,
    check_step_transition,
    check_transition,
    is_final,
)

__all__ = [
    "DONE",
    "ENDED",
    "NEUTRAL_REJECTION",
    "OPEN",
    "REPORTABLE",
    "SOURCE",
    "TRANSITIONS",
    "Cause",
    "Context",
    "Dossier",
    "IllegalTransition",
    "Step",
    "StepStatus",
    "TimelineEntry",
    "UnknownProcedure",
    "UnknownStep",
    "blocked_steps",
    "check_step_report",
    "check_step_transition",
    "check_transition",
    "derive_status",
    "fatal_rejection",
    "is_final",
    "ready_steps",
    "status_path",
]
