"""What routing shows of a dossier: its status, steps, deadline and timeline, read straight from the tables
(no aggregate is needed to read)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_routing.adapters.tables import dossiers, steps, timeline
from dossierbus_routing.domain.deadlines import deadline_provisional
from dossierbus_shared.calendar import WorkingCalendar
from dossierbus_shared.catalogue import Catalogue


async def dossier_by_code(session: AsyncSession, code: str) -> Row[Any] | None:
    return (await session.execute(select(dossiers).where(dossiers.c.code == code))).first()


async def holds_a_step(session: AsyncSession, dossier_id: UUID, agency: str) -> bool:
    """Whether the agency holds (or held) a step of the dossier."""
    held = await session.execute(
        select(steps.c.step).where(steps.c.dossier_id == dossier_id, steps.c.agency_code == agency)
    )
    return held.first() is not None


async def dossier_document(
    session: AsyncSession, dossier: Row[Any], catalogue: Catalogue, calendar: WorkingCalendar
) -> dict[str, Any]:
    step_rows = {
        row.step: row
        for row in (await session.execute(select(steps).where(steps.c.dossier_id == dossier.id)))
    }
    entries = (
        await session.execute(
            select(timeline).where(timeline.c.dossier_id == dossier.id).order_by(timeline.c.id)
        )
    ).all()
    procedure = catalogue.procedure(dossier.procedure_code)
    order = [step.id for step in procedure.steps] if procedure else sorted(step_rows)
    # The step that changed last (with an agency): where the dossier is, for a plain procedure.
    latest = max(
        (row for row in step_rows.values() if row.agency_code), key=lambda row: row.updated_at, default=None
    )
    return {
        "dossier_id": str(dossier.id),
        "dossier_code": dossier.code,
        "procedure_code": dossier.procedure_code,
        "status": dossier.status,
        "agency_code": latest.agency_code if latest else None,
        "step": latest.step if latest else None,
        "due_date": dossier.due_date.isoformat(),
        "deadline": {
            "appointment_date": dossier.appointment_date.isoformat(),
            "due_date": dossier.due_date.isoformat(),
            "deadline_provisional": deadline_provisional(calendar, dossier.submitted_at, dossier.due_date),
            "paused": dossier.paused_since is not None,
            "paused_since": dossier.paused_since.isoformat() if dossier.paused_since else None,
            "paused_working_days": dossier.paused_working_days,
            "supplement_requests": dossier.supplement_requests,
            "overdue": dossier.overdue_at is not None,
            "overdue_at": dossier.overdue_at.isoformat() if dossier.overdue_at else None,
            "extensions": dossier.extensions,
            "extended_working_days": dossier.extended_working_days,
            # What Decision 766 judges by: the due date without the agencies' extensions.
            "original_due_date": (dossier.original_due_date or dossier.due_date).isoformat(),
        },
        "steps": [
            {
                "step": row.step,
                "agency_code": row.agency_code,
                "after": list(row.after),
                "status": row.status,
                "result_documents": row.result_documents,
                "assigned_at": row.assigned_at.isoformat() if row.assigned_at else None,
                "updated_at": row.updated_at.isoformat(),
                "supplement_due_date": row.supplement_due_date.isoformat()
                if row.supplement_due_date
                else None,
            }
            for row in (step_rows[step] for step in order if step in step_rows)
        ],
        "timeline": [
            {
                "at": entry.at.isoformat(),
                "event": entry.event,
                "status": entry.status,
                "agency_code": entry.agency_code,
                "step": entry.step,
                "note": entry.note,
                "outcome": entry.outcome,
                "event_id": str(entry.event_id) if entry.event_id else None,
                "trace_id": entry.trace_id,
            }
            for entry in entries
        ],
    }
