"""Routing over HTTP: one dossier's status, steps, deadline and timeline; the citizen's withdrawal and
supplement. Who may: the applicant (citizen token), the portal, an operator; an agency may read the
dossiers it holds a step of. Anyone else is told the dossier does not exist."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_routing.adapters.tables import dossiers, steps, timeline
from dossierbus_routing.domain import IllegalTransition
from dossierbus_routing.domain.deadlines import deadline_provisional
from dossierbus_routing.workflow import Dossier, UnknownStep, Workflow
from dossierbus_shared.auth import Caller, Role, authenticated
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import Catalogue
from dossierbus_shared.events import PERSONAL_ID_PATTERN, ResultDocument
from dossierbus_shared.http_errors import ProblemError, problem_responses
from dossierbus_shared.service import Service
from dossierbus_shared.telemetry import continued_trace, mark_dossier

router = APIRouter(tags=["dossiers"])


class CitizenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    applicant_personal_id: str | None = Field(
        default=None,
        pattern=PERSONAL_ID_PATTERN,
        description="The applicant's personal ID, as the portal's officer read it from her card: checked "
        "against the dossier's (a citizen's token already says who she is)",
    )


class Withdrawal(CitizenRequest):
    reason: str | None = Field(default=None, max_length=2000)


class Supplement(CitizenRequest):
    step: str | None = Field(
        default=None, description="The step that asked for it; may be left out when only one step waits"
    )
    note: str | None = Field(default=None, max_length=2000)
    documents: list[ResultDocument] = Field(default_factory=list, max_length=50)


@router.get(
    "/dossiers/{code}",
    summary="A dossier's status, steps, deadline and timeline",
    responses=problem_responses(404),
)
async def dossier_view(
    code: str,
    request: Request,
    caller: Annotated[Caller, authenticated(Role.CITIZEN, Role.PORTAL, Role.AGENCY, Role.OPERATOR)],
) -> dict[str, Any]:
    """The registry's reasons for refusing the applicant are shown to the applicant alone."""
    service: Service = request.app.state.service
    async with service.db.transaction() as session:
        dossier = (await session.execute(select(dossiers).where(dossiers.c.code == code))).first()
        if dossier is None or not await _may_read(session, dossier, caller):
            raise ProblemError(404, "Not found", f"no dossier {code!r} has reached routing")
        view = await _view(session, dossier, request.app.state.workflow.catalogue)
    if caller.is_citizen(dossier.applicant_personal_id) and dossier.rejection_reasons:
        view["rejection_reasons"] = list(dossier.rejection_reasons)
    return view


async def _may_read(session: AsyncSession, dossier: Dossier, caller: Caller) -> bool:
    if caller.role in {Role.PORTAL, Role.OPERATOR}:
        return True
    if caller.role is Role.AGENCY:  # an agency reads the dossiers it holds a step of, no others
        held = await session.execute(
            select(steps.c.step).where(
                steps.c.dossier_id == dossier.id, steps.c.agency_code == caller.subject
            )
        )
        return held.first() is not None
    return caller.is_citizen(dossier.applicant_personal_id)


@router.post(
    "/dossiers/{code}/withdrawal",
    summary="The applicant withdraws the dossier (where its status allows it)",
    responses=problem_responses(404, described={403: "Not the applicant", 409: "Not allowed now"}),
)
async def withdraw(
    code: str,
    body: Withdrawal,
    request: Request,
    caller: Annotated[Caller, authenticated(Role.CITIZEN, Role.PORTAL)],
) -> dict[str, Any]:
    """By the applicant (citizen token) or the portal at the desk."""
    service: Service = request.app.state.service
    workflow: Workflow = request.app.state.workflow
    async with service.db.transaction() as session:
        dossier = await _applicants_dossier(session, code, body, caller)
        try:
            await workflow.withdraw(session, dossier, body.reason)
        except IllegalTransition as refused:
            raise ProblemError(409, "Cannot withdraw", refused.reason) from None
        return await _view(session, await _by_code(session, code), workflow.catalogue)


@router.post(
    "/dossiers/{code}/supplement",
    summary="The applicant sends the supplement an agency asked for; the step and its clock resume",
    responses=problem_responses(404, described={403: "Not the applicant", 409: "No supplement awaited"}),
)
async def supplement(
    code: str,
    body: Supplement,
    request: Request,
    caller: Annotated[Caller, authenticated(Role.CITIZEN, Role.PORTAL)],
) -> dict[str, Any]:
    """By the applicant (citizen token) or the portal at the desk."""
    service: Service = request.app.state.service
    workflow: Workflow = request.app.state.workflow
    async with service.db.transaction() as session:
        dossier = await _applicants_dossier(session, code, body, caller)
        try:
            # The supplement and what it sets off (the agency's event, notifications) join the dossier's
            # trace; the request's own span is linked to it.
            with continued_trace("supplement dossier", dossier.trace_context):
                mark_dossier(dossier.code, str(dossier.id))
                await workflow.supplement(session, dossier, body.step, body.note, body.documents)
        except IllegalTransition as refused:
            raise ProblemError(409, "No supplement awaited", refused.reason) from None
        except UnknownStep as unknown:
            raise ProblemError(
                422,
                "Invalid step",
                str(unknown),
                errors=[
                    {"field": "step", "location": "body", "message": str(unknown), "type": "value_error"}
                ],
            ) from None
        return await _view(session, await _by_code(session, code), workflow.catalogue)


async def _by_code(session: AsyncSession, code: str, *, lock: bool = False) -> Dossier:
    query = select(dossiers).where(dossiers.c.code == code)
    dossier = (await session.execute(query.with_for_update() if lock else query)).first()
    if dossier is None:
        raise ProblemError(404, "Not found", f"no dossier {code!r} has reached routing")
    return dossier


async def _applicants_dossier(
    session: AsyncSession, code: str, body: CitizenRequest, caller: Caller
) -> Dossier:
    dossier = await _by_code(session, code, lock=True)
    if caller.role is Role.CITIZEN and not caller.is_citizen(dossier.applicant_personal_id):
        raise ProblemError(404, "Not found", f"no dossier {code!r} has reached routing")
    mark_dossier(dossier.code, str(dossier.id))
    if body.applicant_personal_id is not None and dossier.applicant_personal_id != body.applicant_personal_id:
        message = "is not the applicant of this dossier"
        raise ProblemError(
            403,
            "Not the applicant",
            f"applicant_personal_id {message}",
            errors=[
                {
                    "field": "applicant_personal_id",
                    "location": "body",
                    "message": message,
                    "type": "forbidden",
                }
            ],
        )
    return dossier


async def _view(session: AsyncSession, dossier: Dossier, catalogue: Catalogue) -> dict[str, Any]:
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
            "deadline_provisional": deadline_provisional(
                vietnam_calendar(), dossier.submitted_at, dossier.due_date
            ),
            "paused": dossier.paused_since is not None,
            "paused_since": dossier.paused_since.isoformat() if dossier.paused_since else None,
            "paused_working_days": dossier.paused_working_days,
            "supplement_requests": dossier.supplement_requests,
            "overdue": dossier.overdue_at is not None,
            "overdue_at": dossier.overdue_at.isoformat() if dossier.overdue_at else None,
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
