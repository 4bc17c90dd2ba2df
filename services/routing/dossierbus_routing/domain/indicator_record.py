"""One dossier as the Decision 766 projection counts it, kept up to date from the events every dossier goes
through: `dossier.verified` (channel, due date, whether national population data was used) opens it,
routing's own `dossier.status-changed` (end of processing, supplements, results) moves it, and
`dossier.payment-requested` / `dossier.paid` say whether it owed fees and paid them online (indicator
3.6). It is fed by what the bus publishes, not by the `Dossier` aggregate's state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from dossierbus_routing.domain.indicators import (
    NEVER,
    RESULT_STATUSES,
    finished_on_time,
    overdue_from,
    supersedes_end,
)
from dossierbus_shared.calendar import WorkingCalendar
from dossierbus_shared.catalogue import Catalogue
from dossierbus_shared.events import DossierStatus, DossierStatusChanged, DossierVerified

UNATTRIBUTED = "-"
"""Agency of a dossier whose procedure is not in the catalogue (intake refuses those; kept for safety)."""


@dataclass
class IndicatorRecord:
    dossier_id: UUID
    agency_code: str
    procedure_code: str
    channel: str
    received_on: date
    due_date: date
    form_digitised: bool
    population_data_used: bool
    status: str
    supplement_requests: int
    overdue_from: date
    has_result: bool
    result_digitised: bool
    ended_status: str | None = None
    ended_at: datetime | None = None
    on_time: bool | None = None
    fee_required: bool = False
    paid_online: bool = False

    @classmethod
    def opened(
        cls, verified: DossierVerified, catalogue: Catalogue, calendar: WorkingCalendar
    ) -> IndicatorRecord:
        procedure = catalogue.procedure(verified.procedure_code)
        # A dossier counts for the agency that handles its procedure's first step, however many agencies
        # take part. Until that agency reports, the catalogue's agency for the step stands in.
        agency = procedure.steps[0].agency if procedure else UNATTRIBUTED
        uses_population = bool(
            procedure and "population" in procedure.national_facts and verified.national_facts
        )
        received_on = verified.submitted_at.astimezone(calendar.timezone).date()
        return cls(
            dossier_id=verified.dossier_id,
            agency_code=agency,
            procedure_code=verified.procedure_code,
            channel=verified.channel.value,
            received_on=received_on,
            due_date=verified.due_date,
            form_digitised=bool(verified.form),
            population_data_used=uses_population,
            status=DossierStatus.RECEIVED.value,
            supplement_requests=0,
            overdue_from=overdue_from(verified.due_date, 0, received_on),
            has_result=False,
            result_digitised=False,
        )

    def apply(self, changed: DossierStatusChanged, catalogue: Catalogue, calendar: WorkingCalendar) -> None:
        paused = changed.status is DossierStatus.SUPPLEMENT_REQUESTED
        self.supplement_requests += paused
        self.status = changed.status.value
        # An agency's extension (form 04) moves the citizen's appointment, not the date Decision 766
        # judges by: a dossier late against its original due date stays late.
        judged_by = changed.original_due_date or changed.due_date
        self.due_date = judged_by
        changed_on = changed.changed_at.astimezone(calendar.timezone).date()
        self.overdue_from = overdue_from(judged_by, self.supplement_requests, changed_on, paused=paused)
        if self._awaiting_payment():
            self.overdue_from = NEVER
        self.has_result = self.has_result or changed.status in RESULT_STATUSES
        self.result_digitised = self.result_digitised or bool(changed.result_documents)
        procedure = catalogue.procedure(changed.procedure_code)
        if changed.agency_code and procedure and changed.step == procedure.steps[0].id:
            # The agency actually assigned (it may be an onboarded one rather than the catalogue's).
            self.agency_code = changed.agency_code
        ended = DossierStatus(self.ended_status) if self.ended_status else None
        if supersedes_end(ended, changed.status):
            self.ended_status = changed.status.value
            self.ended_at = changed.changed_at
            self.on_time = finished_on_time(
                changed.changed_at, judged_by, self.supplement_requests, calendar.timezone
            )

    def fees_requested(self) -> None:
        """The dossier owes fees: it counts in indicator 3.6, and while it waits for the applicant to pay,
        its clock stands still (as routing's does), so it does not turn overdue."""
        self.fee_required = True
        if self._awaiting_payment():
            self.overdue_from = NEVER

    def paid(self) -> None:
        """The fees were paid, online: every payment reaches the bus through the payment platform
        (DuocThanhToanTrucTuyen). The due date moved by the wait arrives with the next status change,
        which judges the dossier again; until then it is not counted overdue."""
        self.fee_required = True
        self.paid_online = True

    def _awaiting_payment(self) -> bool:
        # Either event may be read first (they come on two topics): the state is checked both ways.
        return self.fee_required and not self.paid_online and self.status == DossierStatus.ACCEPTED.value
