"""Which agency holds which step of which dossier: learnt from the agencies' inboxes, where routing
publishes every assignment and cancellation, and forgotten when the step is cancelled or the dossier
reaches a final status. A lookup is allowed only to an agency holding a step of the dossier it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Step:
    dossier_code: str
    agency_code: str
    step: str


@dataclass(frozen=True)
class Assignment:
    step: Step
    procedure_code: str
    assigned_at: datetime


@dataclass
class AssignmentChanges:
    """The changes a run of events makes, in their order, reduced to what to write at its end: first
    forget the dossiers that ended, then remove the cancelled steps, then add the assignments (an
    assignment already held keeps its first time)."""

    forgotten: set[str] = field(default_factory=set)
    cancelled: set[Step] = field(default_factory=set)
    assigned: dict[Step, Assignment] = field(default_factory=dict)

    def assign(self, assignment: Assignment) -> None:
        self.assigned.setdefault(assignment.step, assignment)

    def cancel(self, step: Step) -> None:
        self.assigned.pop(step, None)
        self.cancelled.add(step)  # also when assigned again later: the new assignment replaces it

    def forget(self, dossier_code: str) -> None:
        """The dossier ended: no agency holds a step of it any more."""
        self.forgotten.add(dossier_code)
        self.cancelled = {step for step in self.cancelled if step.dossier_code != dossier_code}
        self.assigned = {
            step: assignment
            for step, assignment in self.assigned.items()
            if step.dossier_code != dossier_code
        }

    def __bool__(self) -> bool:
        return bool(self.forgotten or self.cancelled or self.assigned)
