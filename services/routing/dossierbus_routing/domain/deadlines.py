"""Deadline rules: the clock pauses while the citizen owes a supplement or the fees, a dossier is overdue
once its due date has passed while it is neither finished nor paused, a due date running through a year whose
holidays are not yet announced is provisional, and how far an agency may extend a due date and how long
a citizen has to supplement (`DeadlinePolicy`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from dossierbus_routing.domain.statuses import is_final
from dossierbus_shared.calendar import WorkingCalendar
from dossierbus_shared.catalogue import Procedure
from dossierbus_shared.events import DossierStatus

DEFAULT_EXTENSION_MAX_WORKING_DAYS = 10
"""[I] Decree 118/2025 and Circular 03/2025 (form 04) let the agency set a new date with an apology, but
the facts at hand name no ceiling: this project's, overridable per procedure and by a setting."""


@dataclass(frozen=True)
class DeadlinePolicy:
    """The limits the law leaves to the system: a procedure's own catalogue value first, else these."""

    extension_max_working_days: int = DEFAULT_EXTENSION_MAX_WORKING_DAYS
    """Working days all of a dossier's extensions may add together."""
    supplement_deadline_working_days: int | None = None
    """Working days to supplement when neither the request nor the procedure says; None: no deadline."""

    def extension_limit(self, procedure: Procedure) -> int:
        if procedure.extension_max_working_days is not None:
            return procedure.extension_max_working_days
        return self.extension_max_working_days

    def supplement_days(self, procedure: Procedure, requested: int | None) -> int | None:
        """The agency's figure, else the procedure's, else the setting's (None: no deadline)."""
        if requested is not None:
            return requested
        if procedure.supplement_deadline_working_days is not None:
            return procedure.supplement_deadline_working_days
        return self.supplement_deadline_working_days


@dataclass(frozen=True)
class Resumption:
    paused_working_days: int
    due_date: date


def resume(calendar: WorkingCalendar, due_date: date, paused_since: datetime, now: datetime) -> Resumption:
    """The due date once the clock restarts: moved by the working days it stood still (counted from the
    day after the pause began up to the day it ends, so a supplement sent the same day costs nothing)."""
    paused = calendar.working_days_between(calendar.local_date(paused_since), calendar.local_date(now))
    return Resumption(paused, calendar.add_working_days(due_date, paused))


def is_overdue(status: DossierStatus, due_date: date, today: date, *, paused: bool = False) -> bool:
    """`today` is the local date. A paused dossier (waiting for a supplement, or for its fees to be paid)
    is not overdue: its due date moves when it resumes."""
    if is_final(status) or paused or status is DossierStatus.SUPPLEMENT_REQUESTED:
        return False
    return today > due_date


def deadline_provisional(calendar: WorkingCalendar, submitted_at: datetime, due_date: date) -> bool:
    """Whether a due date runs through a year whose holiday schedule is not yet announced."""
    return calendar.is_provisional(calendar.local_date(submitted_at), due_date)


def deadline_note(calendar: WorkingCalendar, submitted_at: datetime, due_date: date) -> str:
    """The timeline's word on the due date: provisional while a year it runs through is unannounced."""
    years = calendar.unannounced_years(calendar.local_date(submitted_at), due_date)
    if not years:
        return f"due {due_date.isoformat()}; deadline_provisional=false"
    listed = ", ".join(str(year) for year in years)
    return (
        f"due {due_date.isoformat()}; deadline_provisional=true: the holiday schedule of {listed} "
        "is not yet announced"
    )
