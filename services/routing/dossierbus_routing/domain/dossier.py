"""The `Dossier` aggregate: a citizen's request and its agency steps, changed only through its commands.

A verified dossier gets one step per step of its procedure; steps start (are assigned on their agency's
inbox) once the steps they come after have their result. Agencies report on steps; a report the step
machine does not allow is refused and recorded, never applied. The dossier's status is derived from its
steps (rules.derive_status).

Each command checks the state machines, changes the dossier and its steps, and records what follows: the
events for other services and the timeline entries. The unit of work takes both (`drain`) and saves the
dossier. Nothing here does I/O: the procedures, the calendar, who handles a step, the hosts an agency
may link results on and the time come in through `Context`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from dossierbus_routing.domain.deadlines import (
    DeadlinePolicy,
    deadline_note,
    deadline_provisional,
    is_overdue,
    resume,
)
from dossierbus_routing.domain.payment import FINANCIAL_OBLIGATION, PAID, REFUNDED, REQUESTED, Payment
from dossierbus_routing.domain.rules import (
    blocked_steps,
    derive_status,
    fatal_rejection,
    ready_steps,
    status_path,
)
from dossierbus_routing.domain.statuses import (
    OPEN,
    IllegalTransition,
    StepStatus,
    check_step_report,
    check_step_transition,
    check_transition,
    is_final,
)
from dossierbus_shared.calendar import WorkingCalendar
from dossierbus_shared.catalogue import Catalogue, Procedure
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    DossierAssigned,
    DossierDeadlineExtended,
    DossierExtensionRequested,
    DossierOverdue,
    DossierPaid,
    DossierPaymentRequested,
    DossierRefunded,
    DossierStatus,
    DossierStatusChanged,
    DossierStatusReported,
    DossierStepCancelled,
    DossierSupplemented,
    DossierVerified,
    Event,
    Fee,
    ResultDocument,
    national_status,
)
from dossierbus_shared.result_urls import result_url_problem

SOURCE = "urn:dossierbus:routing"
NEUTRAL_REJECTION = (
    "The applicant's details could not be verified against the national databases; the applicant "
    "can see why when signed in with eID."
)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class UnknownProcedure(Exception):
    """The dossier's procedure is not in the catalogue: nothing can be done with it."""


class UnknownStep(Exception):
    """A request names a step the dossier does not have, or needs to name one."""


@dataclass(frozen=True)
class Context:
    """What the aggregate is told from outside: the procedures, the working calendar, the agency onboarded
    for a procedure step in a receiving unit (None: the catalogue's), the host names an agency may link
    results on, the time, and the deadline limits the law leaves to settings."""

    catalogue: Catalogue
    calendar: WorkingCalendar
    onboarded_agency: Callable[[str, str, str | None], str | None] = lambda *_: None
    result_domains: Callable[[str], Sequence[str]] = lambda _: ()
    clock: Clock = utc_now
    deadlines: DeadlinePolicy = field(default_factory=DeadlinePolicy)

    def today(self) -> date:
        """The local date now."""
        return self.calendar.local_date(self.clock())

    def procedure(self, code: str) -> Procedure:
        procedure = self.catalogue.procedure(code)
        if procedure is None:
            raise UnknownProcedure(f"procedure {code!r} is not in the catalogue")
        return procedure


@dataclass(frozen=True)
class Cause:
    """Why a change happens, for the timeline: the event consumed (its id) or a request (no id), and the
    agency step it concerns."""

    event_id: UUID | None = None
    agency: str | None = None
    step: str | None = None
    note: str | None = None
    legal_basis: str | None = None
    """An agency's stop (form 05): the legal provision, carried by the status change it causes."""
    supplement_due_date: date | None = None
    """The last day of the supplement the change asks for (or, on an automatic refusal, missed)."""


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the dossier's timeline: an event that touched it, applied or refused. `trace_id` is the
    trace the change happened in, set by the unit of work as it takes the entry."""

    at: datetime
    event: str
    status: str | None
    agency_code: str | None
    step: str | None
    note: str | None
    outcome: str
    event_id: UUID | None
    trace_id: str | None = None


@dataclass
class Step:
    """One agency's part of the dossier's procedure."""

    id: str
    after: list[str]
    status: StepStatus
    updated_at: datetime
    agency: str | None = None  # chosen when the step is assigned
    documents: list[dict[str, Any]] = field(default_factory=list)
    assigned_at: datetime | None = None
    supplement_due_date: date | None = None
    """While the step waits for a supplement with a deadline: the last day for it."""


@dataclass
class Dossier:
    id: UUID
    code: str
    procedure_code: str
    receiving_unit: str | None
    status: DossierStatus
    applicant_personal_id: str
    handed_over: dict[str, Any]
    """What every step's agency is handed: the applicant, the form and the national facts (once-only)."""
    appointment_date: date
    due_date: date
    submitted_at: datetime
    updated_at: datetime
    steps: dict[str, Step]
    paused_since: datetime | None = None
    paused_working_days: int = 0
    supplement_requests: int = 0
    overdue_at: datetime | None = None
    original_due_date: date | None = None
    """Once an agency extended the due date: the due date without extensions (moved by pauses only), by
    which Decision 766 still judges the dossier. None: never extended (it is `due_date`)."""
    extensions: int = 0
    extended_working_days: int = 0
    rejection_reasons: list[str] | None = None
    trace_context: dict[str, str] | None = None
    payment: Payment | None = None
    """What the applicant owes (None: the procedure is free)."""
    _events: list[Envelope[Any]] = field(default_factory=list, repr=False, compare=False)
    _entries: list[TimelineEntry] = field(default_factory=list, repr=False, compare=False)

    # --- commands ----------------------------------------------------------------------------------------

    @classmethod
    def receive(
        cls,
        verified: DossierVerified,
        context: Context,
        *,
        event_id: UUID,
        trace_context: dict[str, str] | None = None,
    ) -> Dossier:
        """A dossier the registry verified (accepted, its first steps assigned) or refused (rejected)."""
        procedure = context.procedure(verified.procedure_code)
        now = context.clock()
        dossier = cls(
            id=verified.dossier_id,
            code=verified.dossier_code,
            procedure_code=verified.procedure_code,
            receiving_unit=verified.receiving_unit,
            status=DossierStatus.RECEIVED,
            applicant_personal_id=verified.applicant.personal_id,
            handed_over={
                "applicant": verified.applicant.model_dump(mode="json"),
                "form": verified.form,
                "national_facts": verified.national_facts,
            },
            appointment_date=verified.due_date,
            due_date=verified.due_date,
            submitted_at=verified.submitted_at,
            updated_at=now,
            steps={
                step.id: Step(step.id, list(step.after), StepStatus.WAITING, updated_at=now)
                for step in procedure.steps
            },
            rejection_reasons=verified.reasons if verified.outcome == "rejected" else None,
            trace_context=trace_context,
        )
        note = deadline_note(context.calendar, verified.submitted_at, verified.due_date)
        dossier._record(
            Cause(event_id, note=note), "submitted", DossierStatus.RECEIVED, context, at=verified.submitted_at
        )
        cause = Cause(event_id)
        if verified.outcome == "rejected":
            # The registry's reasons compare the applicant with national records ("date_of_birth
            # differs ..."): an oracle for whoever typed the submission. They stay in `rejection_reasons`
            # for the authenticated applicant; the timeline, the events and the e-mails get this.
            dossier._close_open_steps(cause, NEUTRAL_REJECTION, context)
            dossier._change(DossierStatus.REJECTED, Cause(event_id, note=NEUTRAL_REJECTION), context)
        else:
            dossier._change(DossierStatus.ACCEPTED, cause, context)
            if procedure.fee_total_vnd > 0:
                dossier._request_payment(procedure, cause, context)
            else:
                dossier._advance(procedure, cause, context)
        return dossier

    @property
    def awaiting_payment(self) -> bool:
        """Held in financial obligation: accepted, its fees asked for and not yet paid."""
        return (
            self.payment is not None
            and self.payment.state == REQUESTED
            and self.status is DossierStatus.ACCEPTED
        )

    @property
    def shown_status(self) -> str:
        """The status routing's views show: the dossier's, or `financial_obligation` while it is held."""
        return FINANCIAL_OBLIGATION if self.awaiting_payment else self.status.value

    def pay(self, paid: DossierPaid, context: Context, *, event_id: UUID) -> str | None:
        """Intake reports the fees paid: the dossier's clock restarts and its first steps are assigned. A
        payment that cannot be taken (nothing owed, another amount) is refused, and a repeat or a payment
        for a dossier already paid is ignored: both recorded on the timeline, nothing else changes. A
        payment for a withdrawn dossier is recorded (the money moved) but starts nothing. Returns why a
        payment was not applied, if it was not."""
        payment = self.payment
        receipt = f"receipt {paid.receipt_number}, {paid.amount_vnd} VND"
        if payment is None:
            return self._payment_not_applied(
                event_id, "paid", f"{receipt}: the dossier owes nothing", context, outcome="refused"
            )
        if payment.state != REQUESTED:
            repeat = paid.receipt_number == payment.receipt_number or paid.receipt_number in payment.history
            why = (
                "a repeat of the payment already taken"
                if repeat
                else f"the dossier is already {payment.state} (receipt {payment.receipt_number})"
            )
            return self._payment_not_applied(event_id, "paid", f"{receipt}: {why}; not applied", context)
        if paid.amount_vnd != payment.amount_vnd:
            why = f"{receipt}: the amount differs from the {payment.amount_vnd} VND requested; not applied"
            return self._payment_not_applied(event_id, "paid", why, context, outcome="refused")
        now = context.clock()
        payment.state, payment.paid_at = PAID, paid.paid_at
        payment.receipt_number, payment.payment_reference = paid.receipt_number, paid.payment_reference
        payment.history.append(paid.receipt_number)
        self.updated_at = now
        if is_final(self.status):
            # Withdrawn while it waited: the payment is a fact (intake holds it) but nothing starts.
            note = f"{receipt}; the dossier is already {self.status.value}: nothing starts"
            self._record(Cause(event_id, note=note), "paid", self.status, context)
            return None
        note = f"{receipt} (payment {paid.payment_reference})"
        cause = Cause(event_id, note=note)
        self._record(cause, "paid", self.status, context)
        if self.paused_since is not None:
            clock_note = self._resume_clock(context)
            self._record(Cause(event_id, note=clock_note), "clock-resumed", self.status, context)
        self._advance(context.procedure(self.procedure_code), Cause(event_id), context)
        return None

    def refund(self, refunded: DossierRefunded, context: Context, *, event_id: UUID) -> str | None:
        """Intake reports the fees refunded (a dossier refused before processing): recorded; the dossier's
        status does not change. A refund of nothing paid, or a repeat, is recorded and changes nothing;
        returns why, then."""
        payment = self.payment
        note = (
            f"refund {refunded.refund_reference} of receipt {refunded.receipt_number}, "
            f"{refunded.amount_vnd} VND: {refunded.reason}"
        )
        if payment is None or payment.state == REQUESTED:
            return self._payment_not_applied(
                event_id, "refunded", f"{note}; nothing was paid", context, outcome="refused"
            )
        if payment.state == REFUNDED:
            return self._payment_not_applied(event_id, "refunded", f"{note}; already refunded", context)
        payment.state, payment.refunded_at = REFUNDED, refunded.refunded_at
        payment.refund_reference, payment.refunded_vnd = refunded.refund_reference, refunded.amount_vnd
        payment.refund_reason = refunded.reason
        self.updated_at = context.clock()
        self._record(Cause(event_id, note=note), "refunded", self.status, context)
        return None

    def _payment_not_applied(
        self, event_id: UUID, event: str, why: str, context: Context, *, outcome: str = "ignored"
    ) -> str:
        self._record(Cause(event_id, note=why), event, None, context, outcome=outcome)
        return why

    def take_report(self, report: DossierStatusReported, context: Context, *, event_id: UUID) -> str | None:
        """Apply an agency's report on a step; if the report is not allowed, why (it is then recorded as
        refused, and nothing else changes)."""
        procedure = context.procedure(self.procedure_code)
        try:
            _check_report_extras(report)
            reached = check_step_report(self._reported_step(report, context), report.status)
        except IllegalTransition as refused:
            self.refuse_report(report, refused.reason, context, event_id=event_id)
            return refused.reason
        note, supplement_due = report.note, None
        if report.legal_basis is not None:
            # A stop (form 05): its legal basis stays on the timeline and goes to the citizen.
            note = f"stopped under {report.legal_basis}" + (f": {note}" if note else "")
        if reached is StepStatus.SUPPLEMENT_REQUESTED:
            days = context.deadlines.supplement_days(procedure, report.supplement_deadline_working_days)
            if days is not None:
                supplement_due = context.calendar.add_working_days(context.today(), days)
                deadline = f"supplement due by {supplement_due.isoformat()} ({days} working day(s))"
                note = f"{note}; {deadline}" if note else deadline
        cause = Cause(
            event_id,
            report.agency_code,
            report.step,
            note,
            legal_basis=report.legal_basis,
            supplement_due_date=supplement_due,
        )
        self._set_step(report.step, reached, cause, context, report.result_documents)
        self.steps[report.step].supplement_due_date = supplement_due
        self._advance(procedure, cause, context, report.result_documents)
        return None

    def extend(self, request: DossierExtensionRequested, context: Context, *, event_id: UUID) -> str | None:
        """An agency's request for more time on its step (form 04): the due date moves, or, if the request
        is not allowed, why (it is then recorded as refused, and nothing else changes). Decision 766 keeps
        judging the dossier by the due date it would have had without extensions."""
        procedure = context.procedure(self.procedure_code)
        try:
            added = self._extension_days(request, procedure, context)
        except IllegalTransition as refused:
            self.refuse_extension(request, refused.reason, context, event_id=event_id)
            return refused.reason
        previous = self.due_date
        if self.original_due_date is None:
            self.original_due_date = previous
        self.due_date = request.due_date
        self.extensions += 1
        self.extended_working_days += added
        now = context.clock()
        self.updated_at = now
        self._emit(
            DossierDeadlineExtended(
                dossier_id=self.id,
                dossier_code=self.code,
                procedure_code=self.procedure_code,
                agency_code=request.agency_code,
                step=request.step,
                status=self.status,
                previous_due_date=previous,
                due_date=self.due_date,
                original_due_date=self.original_due_date,
                reason=request.reason,
                extensions=self.extensions,
                extended_at=now,
            )
        )
        note = (
            f"due date moved from {previous.isoformat()} to {self.due_date.isoformat()} ({added} working "
            f"day(s); extension {self.extensions}); Decision 766 still judges by "
            f"{self.original_due_date.isoformat()}; reason: {request.reason}"
        )
        cause = Cause(event_id, request.agency_code, request.step, note)
        self._record(cause, "deadline-extended", self.status, context)
        return None

    def refuse_extension(
        self, request: DossierExtensionRequested, reason: str, context: Context, *, event_id: UUID
    ) -> None:
        """Put a refused extension request on the timeline (one refused before it was read, too)."""
        cause = Cause(event_id, request.agency_code, request.step, reason)
        self._record(cause, "extension-refused", self.status, context, outcome="refused")

    def refuse_unsupplemented(self, context: Context) -> bool:
        """Refuse the dossier if a supplement it waits for is past its last day (Decree 63/2024: refused
        when not supplemented in time): every open step is cancelled, its agency told, and the dossier
        rejected (national status 8). Whether it was refused now."""
        today = context.today()
        if self.status is not DossierStatus.SUPPLEMENT_REQUESTED:
            return False
        missed = [
            step
            for step in self._in_order(context)
            if step.status is StepStatus.SUPPLEMENT_REQUESTED
            and step.supplement_due_date is not None
            and step.supplement_due_date < today
        ]
        if not missed:
            return False
        step, due = missed[0], missed[0].supplement_due_date
        assert due is not None  # filtered above
        note = (
            f"refused automatically: the supplement asked for at step {step.id!r} was not received by "
            f"{due.isoformat()}"
        )
        cause = Cause(agency=step.agency, step=step.id, note=note, supplement_due_date=due)
        self._close_open_steps(cause, note, context)
        self._change(DossierStatus.REJECTED, cause, context)
        return True

    def refuse_report(
        self, report: DossierStatusReported, reason: str, context: Context, *, event_id: UUID
    ) -> None:
        """Put a refused report on the timeline (one refused before it was read, too: unauthenticated)."""
        cause = Cause(event_id, report.agency_code, report.step, reason)
        self._record(cause, "report-refused", report.status, context, outcome="refused")

    def withdraw(self, reason: str | None, context: Context) -> None:
        """The citizen withdraws the dossier (also while it waits for its fees to be paid);
        IllegalTransition where the state machine does not allow it."""
        check_transition(self.status, DossierStatus.WITHDRAWN, by_agency=False)
        note = f"withdrawn by the applicant: {reason}" if reason else "withdrawn by the applicant"
        cause = Cause(note=note)
        if self.awaiting_payment:
            self.paused_since = None  # the clock stops for good: there is nothing left to time
        self._close_open_steps(cause, note, context)
        self._change(DossierStatus.WITHDRAWN, cause, context)

    def supplement(
        self, step_id: str | None, note: str | None, documents: Sequence[ResultDocument], context: Context
    ) -> str:
        """The citizen sends what an agency asked for: the step resumes, the clock restarts (the due date
        moves by the paused working days) and the agency hears of it on its inbox. Returns the step;
        UnknownStep or IllegalTransition when there is no such step waiting."""
        procedure = context.procedure(self.procedure_code)
        step = self.steps.get(step_id or self._only_step_awaiting_supplement())
        if step is None:
            raise UnknownStep(f"procedure {self.procedure_code} has no step {step_id!r}")
        if step.status is not StepStatus.SUPPLEMENT_REQUESTED:
            raise IllegalTransition(
                step.status,
                StepStatus.PROCESSING,
                f"step {step.id!r} does not wait for a supplement (its status is {step.status.value!r})",
            )
        agency = step.agency
        if agency is None:  # an assigned step always has its agency
            raise RuntimeError(f"step {step.id!r} of {self.code} has no agency")
        cause = Cause(agency=agency, step=step.id, note=note or "supplement sent by the applicant")
        self._set_step(step.id, StepStatus.PROCESSING, cause, context, event="supplemented")
        self._advance(procedure, cause, context)
        self._emit(
            DossierSupplemented(
                dossier_id=self.id,
                dossier_code=self.code,
                agency_code=agency,
                procedure_code=self.procedure_code,
                step=step.id,
                note=note,
                documents=list(documents),
                due_date=self.due_date,
                supplemented_at=context.clock(),
            )
        )
        return step.id

    def check_overdue(self, context: Context) -> bool:
        """Report the dossier overdue, once, if its due date has passed while it is neither finished nor
        paused; whether it was reported now."""
        now = context.clock()
        today = context.calendar.local_date(now)
        paused = self.paused_since is not None
        if self.overdue_at is not None or not is_overdue(self.status, self.due_date, today, paused=paused):
            return False
        open_steps = [
            f"{step.id}@{step.agency}"
            for step in sorted(self.steps.values(), key=lambda step: step.id)
            if step.status in OPEN and step.status is not StepStatus.WAITING
        ]
        overdue = self._emit(
            DossierOverdue(
                dossier_id=self.id,
                dossier_code=self.code,
                procedure_code=self.procedure_code,
                status=self.status,
                due_date=self.due_date,
                open_steps=open_steps,
                detected_at=now,
            )
        )
        self.overdue_at = now
        note = (
            f"due {self.due_date.isoformat()}, not finished on {today.isoformat()}; "
            f"open: {', '.join(open_steps) or 'none'}"
        )
        # The timeline names the event emitted: there is no event consumed.
        self._record(Cause(overdue.id, note=note), "overdue", self.status, context)
        return True

    def drain(self) -> tuple[list[Envelope[Any]], list[TimelineEntry]]:
        """The events and timeline entries recorded since the last drain, in order."""
        drained = (self._events, self._entries)
        self._events, self._entries = [], []
        return drained

    # --- checks --------------------------------------------------------------------------------------------

    def _reported_step(self, report: DossierStatusReported, context: Context) -> StepStatus:
        """The reported step's status, once the report is known to be the assigned agency's to make."""
        if is_final(self.status):
            raise IllegalTransition(
                self.status,
                report.status,
                f"the dossier is already {self.status.value!r} (a final status); reports are no longer taken",
            )
        step = self.steps.get(report.step)
        if step is None:
            raise IllegalTransition(
                self.status, report.status, f"procedure {self.procedure_code} has no step {report.step!r}"
            )
        if step.agency != report.agency_code:
            raise IllegalTransition(
                step.status,
                report.status,
                f"step {report.step!r} of this dossier is not assigned to agency {report.agency_code!r}",
            )
        # Result links go to the citizen: https only, on a host name the agency registered.
        domains = context.result_domains(report.agency_code)
        for document in report.result_documents:
            if problem := result_url_problem(document.url, domains):
                raise IllegalTransition(step.status, report.status, problem)
        return step.status

    def _extension_days(
        self, request: DossierExtensionRequested, procedure: Procedure, context: Context
    ) -> int:
        """The working days an allowed extension adds; IllegalTransition saying why it is not allowed."""
        refused = "extension"
        if is_final(self.status):
            raise IllegalTransition(
                self.status, refused, f"the dossier is already {self.status.value!r} (a final status)"
            )
        step = self.steps.get(request.step)
        if step is None:
            raise IllegalTransition(
                self.status, refused, f"procedure {self.procedure_code} has no step {request.step!r}"
            )
        if step.agency != request.agency_code:
            raise IllegalTransition(
                step.status,
                refused,
                f"step {request.step!r} of this dossier is not assigned to agency {request.agency_code!r}",
            )
        if step.status not in OPEN:
            raise IllegalTransition(
                step.status, refused, f"step {step.id!r} is already {step.status.value!r}; nothing to extend"
            )
        if request.due_date <= self.due_date:
            raise IllegalTransition(
                step.status,
                refused,
                f"the new due date {request.due_date.isoformat()} is not after the current one "
                f"{self.due_date.isoformat()}",
            )
        if not context.calendar.is_working_day(request.due_date):
            raise IllegalTransition(
                step.status, refused, f"the new due date {request.due_date.isoformat()} is not a working day"
            )
        added = context.calendar.working_days_between(self.due_date, request.due_date)
        limit = context.deadlines.extension_limit(procedure)
        if self.extended_working_days + added > limit:
            raise IllegalTransition(
                step.status,
                refused,
                f"the extension adds {added} working day(s) to the {self.extended_working_days} already "
                f"granted; procedure {self.procedure_code} allows {limit} in all",
            )
        return added

    def _only_step_awaiting_supplement(self) -> str:
        waiting = sorted(
            step.id for step in self.steps.values() if step.status is StepStatus.SUPPLEMENT_REQUESTED
        )
        if not waiting:
            raise IllegalTransition(
                self.status,
                DossierStatus.PROCESSING,
                f"no step of this dossier waits for a supplement (the dossier is {self.status.value!r})",
            )
        if len(waiting) > 1:
            raise UnknownStep(f"several steps wait for a supplement ({', '.join(waiting)}); name one")
        return waiting[0]

    # --- moving steps and the dossier --------------------------------------------------------------------

    def _advance(
        self,
        procedure: Procedure,
        cause: Cause,
        context: Context,
        documents: Sequence[ResultDocument] = (),
    ) -> None:
        """Start what can start, close what can never run, then move the dossier to its derived status."""
        while blocked := blocked_steps(procedure, self._step_statuses()):
            for step in blocked:
                note = f"cannot start: needs {', '.join(step.after)}"
                self._set_step(step.id, StepStatus.CANCELLED, Cause(cause.event_id, note=note), context)
        if (rejected := fatal_rejection(procedure, self._step_statuses())) is not None:
            self._close_open_steps(cause, f"rejected at step {rejected.id!r}", context)
        else:
            for ready in ready_steps(procedure, self._step_statuses()):
                agency = context.onboarded_agency(procedure.code, ready.id, self.receiving_unit)
                self._assign(ready.id, agency or ready.agency, cause, context)
        for status in status_path(self.status, derive_status(procedure, self._step_statuses())):
            self._change(status, cause, context, documents)

    def _assign(self, step_id: str, agency: str, cause: Cause, context: Context) -> None:
        step = self.steps[step_id]
        check_step_transition(step.status, StepStatus.ASSIGNED)
        now = context.clock()
        step.status, step.agency, step.assigned_at, step.updated_at = StepStatus.ASSIGNED, agency, now, now
        self._emit(
            DossierAssigned(
                dossier_id=self.id,
                dossier_code=self.code,
                agency_code=agency,
                procedure_code=self.procedure_code,
                step=step_id,
                applicant=Applicant.model_validate(self.handed_over["applicant"]),
                form=self.handed_over["form"],
                national_facts=self.handed_over["national_facts"],
                due_date=self.due_date,
                deadline_provisional=deadline_provisional(context.calendar, self.submitted_at, self.due_date),
                assigned_at=now,
            )
        )
        note = deadline_note(context.calendar, self.submitted_at, self.due_date)
        self._record(Cause(cause.event_id, agency, step_id, note), "assigned", StepStatus.ASSIGNED, context)

    def _close_open_steps(self, cause: Cause, reason: str, context: Context) -> None:
        """Cancel every open step; an agency already holding one is told on its inbox."""
        for step in self._in_order(context):
            if step.status not in OPEN:
                continue
            self._set_step(step.id, StepStatus.CANCELLED, Cause(cause.event_id, note=reason), context)
            if step.agency is not None:
                self._emit(
                    DossierStepCancelled(
                        dossier_id=self.id,
                        dossier_code=self.code,
                        agency_code=step.agency,
                        procedure_code=self.procedure_code,
                        step=step.id,
                        reason=reason,
                        cancelled_at=context.clock(),
                    )
                )

    def _set_step(
        self,
        step_id: str,
        status: StepStatus,
        cause: Cause,
        context: Context,
        documents: Sequence[ResultDocument] = (),
        *,
        event: str = "step-changed",
    ) -> None:
        step = self.steps[step_id]
        check_step_transition(step.status, status)  # a bug if it fails: the callers checked
        step.status, step.updated_at = status, context.clock()
        if status is not StepStatus.SUPPLEMENT_REQUESTED:
            step.supplement_due_date = None  # the supplement came, or will never be needed
        if documents:
            step.documents = [*step.documents, *(document.model_dump(mode="json") for document in documents)]
        self._record(Cause(cause.event_id, step.agency, step_id, cause.note), event, status, context)

    def _change(
        self,
        status: DossierStatus,
        cause: Cause,
        context: Context,
        documents: Sequence[ResultDocument] = (),
    ) -> None:
        """Move the dossier to `status` (an allowed transition), pausing or restarting its clock."""
        previous = self.status
        check_transition(previous, status, by_agency=False)  # a bug if it fails: derived statuses are legal
        now = context.clock()
        clock_note: tuple[str, str] | None = None
        if status is DossierStatus.SUPPLEMENT_REQUESTED:
            self.paused_since = now
            self.supplement_requests += 1
            clock_note = ("clock-paused", f"clock paused with {self.due_date.isoformat()} as due date")
        elif previous is DossierStatus.SUPPLEMENT_REQUESTED and self.paused_since is not None:
            clock_note = ("clock-resumed", self._resume_clock(context))
        self.status, self.updated_at = status, now
        if status is DossierStatus.RESULT_READY:
            # A linked dossier's result is every step's result.
            documents = [
                ResultDocument.model_validate(item)
                for step in self._in_order(context)
                for item in step.documents
            ]
        self._emit(
            DossierStatusChanged(
                dossier_id=self.id,
                dossier_code=self.code,
                procedure_code=self.procedure_code,
                previous_status=previous,
                status=status,
                agency_code=cause.agency,
                step=cause.step,
                note=cause.note,
                result_documents=list(documents),
                due_date=self.due_date,
                changed_at=now,
                national_status=national_status(status, previous),
                legal_basis=cause.legal_basis if status is DossierStatus.REJECTED else None,
                supplement_due_date=cause.supplement_due_date
                if status in (DossierStatus.SUPPLEMENT_REQUESTED, DossierStatus.REJECTED)
                else None,
                original_due_date=self.original_due_date,
            )
        )
        self._record(cause, "status-changed", status, context)
        if clock_note is not None:
            event, note = clock_note
            self._record(Cause(cause.event_id, cause.agency, cause.step, note), event, status, context)

    def _resume_clock(self, context: Context) -> str:
        """Restart a paused clock: the due date moves by the working days it stood still. The timeline's
        note on it."""
        assert self.paused_since is not None  # the callers checked
        resumed = resume(context.calendar, self.due_date, self.paused_since, context.clock())
        note = (
            f"clock paused for {resumed.paused_working_days} working day(s); due date moved from "
            f"{self.due_date.isoformat()} to {resumed.due_date.isoformat()}"
        )
        self.paused_since = None
        self.paused_working_days += resumed.paused_working_days
        self.due_date = resumed.due_date
        if self.original_due_date is not None:  # a pause moves the date 766 judges by as well
            self.original_due_date = context.calendar.add_working_days(
                self.original_due_date, resumed.paused_working_days
            )
        return note

    def _request_payment(self, procedure: Procedure, cause: Cause, context: Context) -> None:
        """Hold the accepted dossier in financial obligation: ask for its fees (intake opens the payment)
        and pause its clock until they are paid; no step starts before."""
        now = context.clock()
        fees = [
            Fee(
                step=fee.step,
                agency_code=context.onboarded_agency(procedure.code, fee.step, self.receiving_unit)
                or fee.agency,
                fee_vnd=fee.fee_vnd,
            )
            for fee in procedure.fees()
        ]
        self.payment = Payment(fees=fees, requested_at=now)
        self._emit(
            DossierPaymentRequested(
                dossier_id=self.id,
                dossier_code=self.code,
                procedure_code=self.procedure_code,
                amount_vnd=self.payment.amount_vnd,
                fees=fees,
                requested_at=now,
            )
        )
        note = f"fees due: {self.payment.amount_vnd} VND ({self.payment.fee_lines()}); national status 6"
        self._record(Cause(cause.event_id, note=note), "payment-requested", FINANCIAL_OBLIGATION, context)
        self.paused_since = now
        clock_note = f"clock paused with {self.due_date.isoformat()} as due date until the fees are paid"
        self._record(Cause(cause.event_id, note=clock_note), "clock-paused", FINANCIAL_OBLIGATION, context)

    # --- what the changes cause -------------------------------------------------------------------------

    def _in_order(self, context: Context) -> list[Step]:
        """The steps in their procedure's order (as stored, for a procedure gone from the catalogue)."""
        procedure = context.catalogue.procedure(self.procedure_code)
        order = [step.id for step in procedure.steps] if procedure else []
        return sorted(
            self.steps.values(), key=lambda step: order.index(step.id) if step.id in order else len(order)
        )

    def _step_statuses(self) -> dict[str, StepStatus]:
        return {step.id: step.status for step in self.steps.values()}

    def _emit(self, event: Event) -> Envelope[Any]:
        envelope = Envelope(event, source=SOURCE)
        self._events.append(envelope)
        return envelope

    def _record(
        self,
        cause: Cause,
        event: str,
        status: DossierStatus | StepStatus | str | None,
        context: Context,
        *,
        at: datetime | None = None,
        outcome: str = "applied",
    ) -> None:
        self._entries.append(
            TimelineEntry(
                at=at or context.clock(),
                event=event,
                status=str(status) if status else None,
                agency_code=cause.agency,
                step=cause.step,
                note=cause.note,
                outcome=outcome,
                event_id=cause.event_id,
            )
        )


def _check_report_extras(report: DossierStatusReported) -> None:
    """A legal basis belongs to a stop, a supplement deadline to a supplement request."""
    if report.legal_basis is not None and report.status is not DossierStatus.REJECTED:
        raise IllegalTransition(
            report.status, report.status, "legal_basis is only for a rejection (a stop, form 05)"
        )
    if (
        report.supplement_deadline_working_days is not None
        and report.status is not DossierStatus.SUPPLEMENT_REQUESTED
    ):
        raise IllegalTransition(
            report.status,
            report.status,
            "supplement_deadline_working_days is only for a supplement request",
        )
