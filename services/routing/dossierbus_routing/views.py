"""What routing shows of a dossier: its status, steps, deadline and timeline, read straight from the tables
(no aggregate is needed to read)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_routing.adapters.tables import dossiers, steps, timeline
from dossierbus_routing.domain.deadlines import deadline_provisional
from dossierbus_routing.domain.payment import FINANCIAL_OBLIGATION, REQUESTED
from dossierbus_shared.calendar import WorkingCalendar
from dossierbus_shared.catalogue import Catalogue
from dossierbus_shared.events import DossierStatus, NationalStatus


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
        "status": shown_status(dossier.status, dossier.payment),
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
        "payment": payment_view(dossier.status, dossier.payment),
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


def shown_status(status: str, payment: dict[str, Any] | None) -> str:
    """The dossier's status, or `financial_obligation` while it is held until its fees are paid."""
    held = payment is not None and payment["state"] == REQUESTED and status == DossierStatus.ACCEPTED.value
    return FINANCIAL_OBLIGATION if held else status


def payment_view(status: str, payment: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the applicant owes and where it stands; None for a free procedure."""
    if payment is None:
        return None
    held = shown_status(status, payment) == FINANCIAL_OBLIGATION
    return {
        "state": payment["state"],
        "amount_vnd": payment["amount_vnd"],
        "fees": payment["fees"],
        "requested_at": payment["requested_at"],
        # While held, the national portal shows "Yêu cầu thực hiện nghĩa vụ tài chính".
        "national_status": int(NationalStatus.FINANCIAL_OBLIGATION) if held else None,
        "paid_at": payment["paid_at"],
        "receipt_number": payment["receipt_number"],
        "payment_reference": payment["payment_reference"],
        "refunded_at": payment["refunded_at"],
        "refund_reference": payment["refund_reference"],
        "refunded_vnd": payment["refunded_vnd"],
        "refund_reason": payment["refund_reason"],
    }
