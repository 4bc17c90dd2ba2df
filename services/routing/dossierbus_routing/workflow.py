"""Routing use cases: run each dossier through its procedure's workflow of agency steps.

A verified dossier gets one row per step; steps start (are assigned on their agency's inbox) once the
steps they come after have their result. Agencies report on steps; a report that the step machine does
not allow is refused, logged and recorded, never applied. The dossier's status is derived from its steps
(`domain.derive_status`), and every change goes to the timeline and out as an event, in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from opentelemetry import trace
from sqlalchemy import Row, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_routing.adapters.tables import dossiers, steps, timeline
from dossierbus_routing.domain import (
    OPEN,
    IllegalTransition,
    StepStatus,
    blocked_steps,
    check_step_report,
    check_step_transition,
    check_transition,
    derive_status,
    fatal_rejection,
    is_final,
    ready_steps,
    status_path,
)
from dossierbus_routing.domain.deadlines import deadline_provisional, resume
from dossierbus_shared.calendar import PROVISIONAL_DEADLINES, WorkingCalendar
from dossierbus_shared.catalogue import Catalogue, Procedure, Step
from dossierbus_shared.consumer import PermanentError
from dossierbus_shared.contract.kit import answers_the_kit
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    DossierAssigned,
    DossierStatus,
    DossierStatusChanged,
    DossierStatusReported,
    DossierStepCancelled,
    DossierSupplemented,
    DossierVerified,
    ResultDocument,
    national_status,
)
from dossierbus_shared.outbox import stage
from dossierbus_shared.result_urls import result_url_problem
from dossierbus_shared.telemetry import current_trace_headers
from dossierbus_shared.unit_of_work import UnitOfWork

NEUTRAL_REJECTION = (
    "The applicant's details could not be verified against the national databases; the applicant "
    "can see why when signed in with eID."
)

log = logging.getLogger(__name__)
SOURCE = "urn:dossierbus:routing"
Clock = Callable[[], datetime]
Dossier = Row[Any]


def utc_now() -> datetime:
    return datetime.now(UTC)


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


@dataclass(frozen=True)
class Cause:
    """Why a change happens, for the timeline: the event consumed (its id) or a request (no id), and the
    agency step it concerns."""

    event_id: UUID | None = None
    agency: str | None = None
    step: str | None = None
    note: str | None = None


@dataclass
class StepState:
    """A step of one dossier as loaded for a change (the dossier row is locked meanwhile)."""

    status: StepStatus
    agency: str | None
    documents: list[dict[str, Any]] = field(default_factory=list)


Steps = dict[str, StepState]


class UnknownStep(Exception):
    """A request names a step the dossier does not have, or needs to name one."""


class Workflow:
    def __init__(
        self,
        catalogue: Catalogue,
        calendar: WorkingCalendar,
        clock: Clock = utc_now,
        directory: AgencyDirectory | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.calendar = calendar
        self.clock = clock
        self.directory = directory or AgencyDirectory.of([])

    def _agency_for(self, procedure: Procedure, step: Step, dossier: Dossier) -> str:
        """The agency that handles `step` of this dossier: the one place where that choice is made. An
        onboarded agency that declared the step for the dossier's receiving unit (or for any unit) first,
        else the catalogue's."""
        return self.directory.handler(procedure.code, step.id, dossier.receiving_unit) or step.agency

    def _provisional(self, submitted_at: datetime, due_date: date) -> bool:
        return deadline_provisional(self.calendar, submitted_at, due_date)

    def _deadline_note(self, submitted_at: datetime, due_date: date) -> str:
        """The timeline's word on the due date: provisional while a year it runs through is unannounced."""
        years = self.calendar.unannounced_years(self.calendar.local_date(submitted_at), due_date)
        if not years:
            return f"due {due_date.isoformat()}; deadline_provisional=false"
        listed = ", ".join(str(year) for year in years)
        return (
            f"due {due_date.isoformat()}; deadline_provisional=true: the holiday schedule of {listed} "
            "is not yet announced"
        )

    def _procedure(self, code: str) -> Procedure:
        procedure = self.catalogue.procedure(code)
        if procedure is None:
            raise PermanentError(f"procedure {code!r} is not in the catalogue")
        return procedure

    # --- events consumed -----------------------------------------------------------------------------

    async def on_verified(self, work: UnitOfWork, envelope: Envelope[DossierVerified]) -> None:
        session = work.session
        verified = envelope.data
        procedure = self._procedure(verified.procedure_code)
        created = await session.execute(
            insert(dossiers)
            .values(
                id=verified.dossier_id,
                code=verified.dossier_code,
                procedure_code=verified.procedure_code,
                receiving_unit=verified.receiving_unit,
                status=DossierStatus.RECEIVED.value,
                applicant_personal_id=verified.applicant.personal_id,
                appointment_date=verified.due_date,
                due_date=verified.due_date,
                submitted_at=verified.submitted_at,
                rejection_reasons=verified.reasons if verified.outcome == "rejected" else None,
                trace_context=current_trace_headers(),
                handed_over={
                    "applicant": verified.applicant.model_dump(mode="json"),
                    "form": verified.form,
                    "national_facts": verified.national_facts,
                },
            )
            .on_conflict_do_nothing()
            .returning(dossiers.c.id)
        )
        if created.first() is None:
            log.warning(
                "dossier %s was already verified; ignoring a second verification", verified.dossier_code
            )
            return
        await session.execute(
            steps.insert(),
            [
                {
                    "dossier_id": verified.dossier_id,
                    "step": step.id,
                    "after": step.after,
                    "status": StepStatus.WAITING.value,
                }
                for step in procedure.steps
            ],
        )
        cause = Cause(envelope.id)
        await self.record(
            session,
            verified.dossier_id,
            Cause(envelope.id, note=self._deadline_note(verified.submitted_at, verified.due_date)),
            "submitted",
            DossierStatus.RECEIVED,
            at=verified.submitted_at,
        )
        dossier = await self._lock(session, verified.dossier_id)
        state = {step.id: StepState(StepStatus.WAITING, None) for step in procedure.steps}
        if verified.outcome == "rejected":
            # The registry's reasons compare the applicant with national records ("date_of_birth
            # differs ..."): an oracle for whoever typed the submission. They stay in the dossier row
            # for the authenticated applicant; the timeline, the events and the e-mails get this.
            reason = NEUTRAL_REJECTION
            await self._close_open_steps(session, dossier, state, cause, reason)
            await self._change(
                session, dossier, state, DossierStatus.REJECTED, Cause(envelope.id, note=reason)
            )
            return
        dossier = await self._change(session, dossier, state, DossierStatus.ACCEPTED, cause)
        await self._advance(session, dossier, procedure, state, cause)

    async def on_reported(self, work: UnitOfWork, envelope: Envelope[DossierStatusReported]) -> None:
        session = work.session
        report = envelope.data
        if answers_the_kit(report):  # an agency checking itself with the contract test kit
            log.info("dropped contract-test report on %s from %s", report.dossier_code, envelope.source)
            return
        dossier = await self._lock(session, report.dossier_id)
        procedure = self._procedure(dossier.procedure_code)
        cause = Cause(envelope.id, report.agency_code, report.step, report.note)
        state = await self._load_steps(session, dossier.id)
        try:
            current = self._reported_step(dossier, state, report)
            reached = check_step_report(current, report.status)
        except IllegalTransition as refused:
            log.warning(
                "refused report on %s from %s: %s", report.dossier_code, envelope.source, refused.reason
            )
            await self.record(
                session,
                dossier.id,
                Cause(envelope.id, report.agency_code, report.step, refused.reason),
                "report-refused",
                report.status,
                outcome="refused",
            )
            return
        await self._set_step(session, dossier, state, report.step, reached, cause, report.result_documents)
        await self._advance(session, dossier, procedure, state, cause, report.result_documents)

    async def record_refused_report(
        self, session: AsyncSession, envelope: Envelope[DossierStatusReported], reason: str
    ) -> None:
        """Put a report refused before it was read (an unauthenticated one) on its dossier's timeline."""
        report = envelope.data
        known = await session.execute(select(dossiers.c.id).where(dossiers.c.id == report.dossier_id))
        if known.first() is not None:
            await self.record(
                session,
                report.dossier_id,
                Cause(envelope.id, report.agency_code, report.step, reason),
                "report-refused",
                report.status,
                outcome="refused",
            )

    def _reported_step(self, dossier: Dossier, state: Steps, report: DossierStatusReported) -> StepStatus:
        """The reported step's status, once the report is known to be the assigned agency's to make."""
        if is_final(DossierStatus(dossier.status)):
            raise IllegalTransition(
                dossier.status,
                report.status,
                f"the dossier is already {dossier.status!r} (a final status); reports are no longer taken",
            )
        step = state.get(report.step)
        if step is None:
            raise IllegalTransition(
                dossier.status,
                report.status,
                f"procedure {dossier.procedure_code} has no step {report.step!r}",
            )
        if step.agency != report.agency_code:
            raise IllegalTransition(
                step.status,
                report.status,
                f"step {report.step!r} of this dossier is not assigned to agency {report.agency_code!r}",
            )
        if problem := self._result_documents_problem(report):
            raise IllegalTransition(step.status, report.status, problem)
        return step.status

    def _result_documents_problem(self, report: DossierStatusReported) -> str | None:
        """Why a result link of the report may not reach the citizen: each must be https on a host name
        the agency registered with the registry."""
        if not report.result_documents:
            return None
        agency = self.directory.agency(report.agency_code)
        domains = agency.result_domains if agency else []
        for document in report.result_documents:
            if problem := result_url_problem(document.url, domains):
                return problem
        return None

    # --- the citizen's requests ----------------------------------------------------------------------

    async def withdraw(self, session: AsyncSession, dossier: Dossier, reason: str | None) -> None:
        """The citizen withdraws the dossier; IllegalTransition where the state machine does not allow it."""
        check_transition(DossierStatus(dossier.status), DossierStatus.WITHDRAWN, by_agency=False)
        note = f"withdrawn by the applicant: {reason}" if reason else "withdrawn by the applicant"
        cause = Cause(note=note)
        state = await self._load_steps(session, dossier.id)
        await self._close_open_steps(session, dossier, state, cause, note)
        await self._change(session, dossier, state, DossierStatus.WITHDRAWN, cause)

    async def supplement(
        self,
        session: AsyncSession,
        dossier: Dossier,
        step_id: str | None,
        note: str | None,
        documents: Sequence[ResultDocument],
    ) -> str:
        """The citizen sends what an agency asked for: the step resumes, the clock restarts (the due date
        moves by the paused working days) and the agency hears of it on its inbox. Returns the step."""
        procedure = self._procedure(dossier.procedure_code)
        state = await self._load_steps(session, dossier.id)
        if step_id is None:
            waiting = sorted(
                step for step, it in state.items() if it.status is StepStatus.SUPPLEMENT_REQUESTED
            )
            if not waiting:
                raise IllegalTransition(
                    dossier.status,
                    DossierStatus.PROCESSING,
                    f"no step of this dossier waits for a supplement (the dossier is {dossier.status!r})",
                )
            if len(waiting) > 1:
                raise UnknownStep(f"several steps wait for a supplement ({', '.join(waiting)}); name one")
            step_id = waiting[0]
        if step_id not in state:
            raise UnknownStep(f"procedure {dossier.procedure_code} has no step {step_id!r}")
        step = state[step_id]
        if step.status is not StepStatus.SUPPLEMENT_REQUESTED:
            raise IllegalTransition(
                step.status,
                StepStatus.PROCESSING,
                f"step {step_id!r} does not wait for a supplement (its status is {step.status.value!r})",
            )
        agency = step.agency
        if agency is None:  # an assigned step always has its agency
            raise RuntimeError(f"step {step_id!r} of {dossier.code} has no agency")
        cause = Cause(agency=agency, step=step_id, note=note or "supplement sent by the applicant")
        await self._set_step(
            session, dossier, state, step_id, StepStatus.PROCESSING, cause, event="supplemented"
        )
        dossier = await self._advance(session, dossier, procedure, state, cause)
        supplemented = DossierSupplemented(
            dossier_id=dossier.id,
            dossier_code=dossier.code,
            agency_code=agency,
            procedure_code=dossier.procedure_code,
            step=step_id,
            note=note,
            documents=list(documents),
            due_date=dossier.due_date,
            supplemented_at=self.clock(),
        )
        await stage(session, Envelope(supplemented, source=SOURCE))
        return step_id

    # --- moving steps and the dossier ----------------------------------------------------------------

    async def _advance(
        self,
        session: AsyncSession,
        dossier: Dossier,
        procedure: Procedure,
        state: Steps,
        cause: Cause,
        documents: Sequence[ResultDocument] = (),
    ) -> Dossier:
        """Start what can start, close what can never run, then move the dossier to its derived status."""
        while blocked := blocked_steps(procedure, _statuses(state)):
            for step in blocked:
                note = f"cannot start: needs {', '.join(step.after)}"
                await self._set_step(
                    session, dossier, state, step.id, StepStatus.CANCELLED, Cause(cause.event_id, note=note)
                )
        if (rejected := fatal_rejection(procedure, _statuses(state))) is not None:
            await self._close_open_steps(session, dossier, state, cause, f"rejected at step {rejected.id!r}")
        else:
            for step in ready_steps(procedure, _statuses(state)):
                await self._assign(session, dossier, procedure, state, step, cause)
        for status in status_path(DossierStatus(dossier.status), derive_status(procedure, _statuses(state))):
            dossier = await self._change(session, dossier, state, status, cause, documents)
        return dossier

    async def _assign(
        self,
        session: AsyncSession,
        dossier: Dossier,
        procedure: Procedure,
        state: Steps,
        step: Step,
        cause: Cause,
    ) -> None:
        agency = self._agency_for(procedure, step, dossier)
        now = self.clock()
        check_step_transition(state[step.id].status, StepStatus.ASSIGNED)
        await session.execute(
            update(steps)
            .where(steps.c.dossier_id == dossier.id, steps.c.step == step.id)
            .values(status=StepStatus.ASSIGNED.value, agency_code=agency, assigned_at=now, updated_at=now)
        )
        state[step.id] = StepState(StepStatus.ASSIGNED, agency)
        assigned = DossierAssigned(
            dossier_id=dossier.id,
            dossier_code=dossier.code,
            agency_code=agency,
            procedure_code=dossier.procedure_code,
            step=step.id,
            applicant=Applicant.model_validate(dossier.handed_over["applicant"]),
            form=dossier.handed_over["form"],
            national_facts=dossier.handed_over["national_facts"],
            due_date=dossier.due_date,
            deadline_provisional=self._provisional(dossier.submitted_at, dossier.due_date),
            assigned_at=now,
        )
        await stage(session, Envelope(assigned, source=SOURCE))
        if assigned.deadline_provisional:
            PROVISIONAL_DEADLINES.labels("assigned").inc()
        note = self._deadline_note(dossier.submitted_at, dossier.due_date)
        await self.record(
            session, dossier.id, Cause(cause.event_id, agency, step.id, note), "assigned", StepStatus.ASSIGNED
        )

    async def _close_open_steps(
        self, session: AsyncSession, dossier: Dossier, state: Steps, cause: Cause, reason: str
    ) -> None:
        """Cancel every open step; an agency already holding one is told on its inbox."""
        for step_id, step in state.items():
            if step.status not in OPEN:
                continue
            await self._set_step(
                session, dossier, state, step_id, StepStatus.CANCELLED, Cause(cause.event_id, note=reason)
            )
            if step.agency is not None:
                cancelled = DossierStepCancelled(
                    dossier_id=dossier.id,
                    dossier_code=dossier.code,
                    agency_code=step.agency,
                    procedure_code=dossier.procedure_code,
                    step=step_id,
                    reason=reason,
                    cancelled_at=self.clock(),
                )
                await stage(session, Envelope(cancelled, source=SOURCE))

    async def _set_step(
        self,
        session: AsyncSession,
        dossier: Dossier,
        state: Steps,
        step_id: str,
        status: StepStatus,
        cause: Cause,
        documents: Sequence[ResultDocument] = (),
        *,
        event: str = "step-changed",
    ) -> None:
        step = state[step_id]
        check_step_transition(step.status, status)  # a bug if it fails: the callers checked
        values: dict[str, Any] = {"status": status.value, "updated_at": self.clock()}
        if documents:
            values["result_documents"] = [*step.documents, *(d.model_dump(mode="json") for d in documents)]
        await session.execute(
            update(steps).where(steps.c.dossier_id == dossier.id, steps.c.step == step_id).values(**values)
        )
        state[step_id] = StepState(status, step.agency, values.get("result_documents", step.documents))
        await self.record(
            session, dossier.id, Cause(cause.event_id, step.agency, step_id, cause.note), event, status
        )

    async def _change(
        self,
        session: AsyncSession,
        dossier: Dossier,
        state: Steps,
        status: DossierStatus,
        cause: Cause,
        documents: Sequence[ResultDocument] = (),
    ) -> Dossier:
        """Move the dossier to `status` (an allowed transition), pausing or restarting its clock."""
        previous = DossierStatus(dossier.status)
        check_transition(previous, status, by_agency=False)  # a bug if it fails: derived statuses are legal
        now = self.clock()
        values: dict[str, Any] = {"status": status.value, "updated_at": now}
        clock_note: tuple[str, str] | None = None
        if status is DossierStatus.SUPPLEMENT_REQUESTED:
            values["paused_since"] = now
            values["supplement_requests"] = dossier.supplement_requests + 1
            clock_note = ("clock-paused", f"clock paused with {dossier.due_date.isoformat()} as due date")
        elif previous is DossierStatus.SUPPLEMENT_REQUESTED and dossier.paused_since is not None:
            resumed = resume(self.calendar, dossier.due_date, dossier.paused_since, now)
            values["paused_since"] = None
            values["paused_working_days"] = dossier.paused_working_days + resumed.paused_working_days
            values["due_date"] = resumed.due_date
            clock_note = (
                "clock-resumed",
                f"clock paused for {resumed.paused_working_days} working day(s); due date moved from "
                f"{dossier.due_date.isoformat()} to {resumed.due_date.isoformat()}",
            )
        dossier = (
            await session.execute(
                update(dossiers).where(dossiers.c.id == dossier.id).values(**values).returning(*dossiers.c)
            )
        ).one()
        if status is DossierStatus.RESULT_READY:
            # A linked dossier's result is every step's result.
            documents = [
                ResultDocument.model_validate(item) for it in state.values() for item in it.documents
            ]
        changed = DossierStatusChanged(
            dossier_id=dossier.id,
            dossier_code=dossier.code,
            procedure_code=dossier.procedure_code,
            previous_status=previous,
            status=status,
            agency_code=cause.agency,
            step=cause.step,
            note=cause.note,
            result_documents=list(documents),
            due_date=dossier.due_date,
            changed_at=now,
            national_status=national_status(status, previous),
        )
        await stage(session, Envelope(changed, source=SOURCE))
        await self.record(session, dossier.id, cause, "status-changed", status)
        if clock_note is not None:
            event, note = clock_note
            await self.record(
                session, dossier.id, Cause(cause.event_id, cause.agency, cause.step, note), event, status
            )
        return dossier

    # --- storage -------------------------------------------------------------------------------------

    async def _lock(self, session: AsyncSession, dossier_id: UUID) -> Dossier:
        dossier = (
            await session.execute(select(dossiers).where(dossiers.c.id == dossier_id).with_for_update())
        ).first()
        if dossier is None:
            raise PermanentError(f"report for unknown dossier {dossier_id}")
        return dossier

    async def _load_steps(self, session: AsyncSession, dossier_id: UUID) -> Steps:
        rows = (await session.execute(select(steps).where(steps.c.dossier_id == dossier_id))).all()
        return {
            row.step: StepState(StepStatus(row.status), row.agency_code, row.result_documents) for row in rows
        }

    async def record(
        self,
        session: AsyncSession,
        dossier_id: UUID,
        cause: Cause,
        event: str,
        status: DossierStatus | StepStatus | None,
        *,
        at: datetime | None = None,
        outcome: str = "applied",
    ) -> None:
        await session.execute(
            timeline.insert().values(
                dossier_id=dossier_id,
                at=at or self.clock(),
                event=event,
                status=status.value if status else None,
                agency_code=cause.agency,
                step=cause.step,
                note=cause.note,
                outcome=outcome,
                event_id=cause.event_id,
                trace_id=current_trace_id(),
            )
        )


def _statuses(state: Steps) -> dict[str, StepStatus]:
    return {step: it.status for step, it in state.items()}
