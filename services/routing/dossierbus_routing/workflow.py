"""Routing use cases: accept verified dossiers and assign them to the handling agency; apply what agencies
report, refusing illegal transitions; every change goes to the timeline and out as an event."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from opentelemetry import trace
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_routing.adapters.tables import dossiers, timeline
from dossierbus_routing.domain import IllegalTransition, check_transition
from dossierbus_shared.catalogue import Catalogue, Procedure, Step
from dossierbus_shared.consumer import PermanentError
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    DossierAssigned,
    DossierStatus,
    DossierStatusChanged,
    DossierStatusReported,
    DossierVerified,
    ResultDocument,
)
from dossierbus_shared.outbox import stage

log = logging.getLogger(__name__)
SOURCE = "urn:dossierbus:routing"


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class Workflow:
    def __init__(self, catalogue: Catalogue, directory: AgencyDirectory | None = None) -> None:
        self.catalogue = catalogue
        self.directory = directory or AgencyDirectory.of([])

    async def on_verified(self, session: AsyncSession, envelope: Envelope[DossierVerified]) -> None:
        verified = envelope.data
        created = await session.execute(
            insert(dossiers)
            .values(
                id=verified.dossier_id,
                code=verified.dossier_code,
                procedure_code=verified.procedure_code,
                receiving_unit=verified.receiving_unit,
                status=DossierStatus.RECEIVED.value,
                due_date=verified.due_date,
                submitted_at=verified.submitted_at,
            )
            .on_conflict_do_nothing()
            .returning(dossiers.c.id)
        )
        if created.first() is None:
            log.warning(
                "dossier %s was already verified; ignoring a second verification", verified.dossier_code
            )
            return
        await self._record(
            session,
            verified.dossier_id,
            envelope,
            "submitted",
            DossierStatus.RECEIVED,
            at=verified.submitted_at,
        )
        if verified.outcome == "rejected":
            await self._change(
                session,
                envelope,
                DossierStatus.RECEIVED,
                DossierStatus.REJECTED,
                note="; ".join(verified.reasons),
            )
            return
        await self._change(session, envelope, DossierStatus.RECEIVED, DossierStatus.ACCEPTED)
        await self._assign(session, envelope)

    async def _assign(self, session: AsyncSession, envelope: Envelope[DossierVerified]) -> None:
        verified = envelope.data
        procedure = self.catalogue.procedure(verified.procedure_code)
        if procedure is None:
            raise PermanentError(f"procedure {verified.procedure_code!r} is not in the catalogue")
        step = procedure.steps[0]
        agency = self._agency_for(procedure, step, verified.receiving_unit)
        await session.execute(
            update(dossiers)
            .where(dossiers.c.id == verified.dossier_id)
            .values(agency_code=agency, step=step.id)
        )
        assigned = DossierAssigned(
            dossier_id=verified.dossier_id,
            dossier_code=verified.dossier_code,
            agency_code=agency,
            procedure_code=verified.procedure_code,
            step=step.id,
            applicant=verified.applicant,
            form=verified.form,
            national_facts=verified.national_facts,
            due_date=verified.due_date,
            assigned_at=datetime.now(UTC),
        )
        await stage(session, Envelope(assigned, source=SOURCE))
        await self._record(
            session, verified.dossier_id, envelope, "assigned", None, agency=agency, step=step.id
        )

    def _agency_for(self, procedure: Procedure, step: Step, receiving_unit: str | None) -> str:
        """The agency that handles this step: an onboarded agency that declared it handles the step for
        the receiving unit (or for any unit), else the catalogue's."""
        return self.directory.handler(procedure.code, step.id, receiving_unit) or step.agency

    async def on_reported(self, session: AsyncSession, envelope: Envelope[DossierStatusReported]) -> None:
        report = envelope.data
        dossier = (
            await session.execute(
                select(dossiers).where(dossiers.c.id == report.dossier_id).with_for_update()
            )
        ).first()
        if dossier is None:
            raise PermanentError(f"report for unknown dossier {report.dossier_id}")
        current = DossierStatus(dossier.status)
        try:
            if (report.agency_code, report.step) != (dossier.agency_code, dossier.step):
                raise IllegalTransition(
                    current,
                    report.status,
                    f"step {report.step!r} of this dossier is not assigned to agency {report.agency_code!r}",
                )
            check_transition(current, report.status, by_agency=True)
        except IllegalTransition as refused:
            log.warning(
                "refused report on %s from %s: %s", report.dossier_code, envelope.source, refused.reason
            )
            await self._record(
                session,
                report.dossier_id,
                envelope,
                "report-refused",
                report.status,
                agency=report.agency_code,
                step=report.step,
                note=refused.reason,
                outcome="refused",
            )
            return
        await self._change(
            session,
            envelope,
            current,
            report.status,
            agency=report.agency_code,
            step=report.step,
            note=report.note,
            documents=report.result_documents,
        )

    async def record_refused_report(
        self, session: AsyncSession, envelope: Envelope[DossierStatusReported], reason: str
    ) -> None:
        """Put a report refused before it was read (an unauthenticated one) on its dossier's timeline."""
        report = envelope.data
        known = await session.execute(select(dossiers.c.id).where(dossiers.c.id == report.dossier_id))
        if known.first() is not None:
            await self._record(
                session,
                report.dossier_id,
                envelope,
                "report-refused",
                report.status,
                agency=report.agency_code,
                step=report.step,
                note=reason,
                outcome="refused",
            )

    async def _change(
        self,
        session: AsyncSession,
        cause: Envelope[Any],
        previous: DossierStatus,
        status: DossierStatus,
        *,
        agency: str | None = None,
        step: str | None = None,
        note: str | None = None,
        documents: list[ResultDocument] | None = None,
    ) -> None:
        dossier_id = cause.data.dossier_id
        dossier = (
            await session.execute(
                update(dossiers)
                .where(dossiers.c.id == dossier_id)
                .values(status=status.value, updated_at=datetime.now(UTC))
                .returning(dossiers.c.code, dossiers.c.procedure_code, dossiers.c.due_date)
            )
        ).one()
        changed = DossierStatusChanged(
            dossier_id=dossier_id,
            dossier_code=dossier.code,
            procedure_code=dossier.procedure_code,
            previous_status=previous,
            status=status,
            agency_code=agency,
            step=step,
            note=note,
            result_documents=documents or [],
            due_date=dossier.due_date,
            changed_at=datetime.now(UTC),
        )
        await stage(session, Envelope(changed, source=SOURCE))
        await self._record(
            session, dossier_id, cause, "status-changed", status, agency=agency, step=step, note=note
        )

    async def _record(
        self,
        session: AsyncSession,
        dossier_id: UUID,
        cause: Envelope[Any],
        event: str,
        status: DossierStatus | None,
        *,
        at: datetime | None = None,
        agency: str | None = None,
        step: str | None = None,
        note: str | None = None,
        outcome: str = "applied",
    ) -> None:
        await session.execute(
            timeline.insert().values(
                dossier_id=dossier_id,
                at=at or datetime.now(UTC),
                event=event,
                status=status.value if status else None,
                agency_code=agency,
                step=step,
                note=note,
                outcome=outcome,
                event_id=cause.id,
                trace_id=current_trace_id(),
            )
        )
