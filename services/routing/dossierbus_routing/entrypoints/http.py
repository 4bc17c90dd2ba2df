"""Routing over HTTP: one dossier's status, steps, deadline and timeline; the citizen's withdrawal and
supplement. Who may: the applicant (citizen token), the portal, an operator; an agency may read the
dossiers it holds a step of. Anyone else is told the dossier does not exist."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from dossierbus_routing.domain import Dossier, IllegalTransition, UnknownStep
from dossierbus_routing.entrypoints.dependencies import RoutingContext, UnitsOfWork
from dossierbus_routing.unit_of_work import RoutingUnitOfWork
from dossierbus_routing.views import dossier_by_code, dossier_document, holds_a_step
from dossierbus_shared.auth import Caller, Role, authenticated
from dossierbus_shared.db import one_snapshot, retry_dropped_connection
from dossierbus_shared.events import PERSONAL_ID_PATTERN, ResultDocument
from dossierbus_shared.http_errors import ProblemError, problem_responses
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
    caller: Annotated[Caller, authenticated(Role.CITIZEN, Role.PORTAL, Role.AGENCY, Role.OPERATOR)],
    context: RoutingContext,
    units_of_work: UnitsOfWork,
) -> dict[str, Any]:
    """The registry's reasons for refusing the applicant are shown to the applicant alone."""
    return await _view(code, caller, context, units_of_work)


@router.post(
    "/dossiers/{code}/withdrawal",
    summary="The applicant withdraws the dossier (where its status allows it)",
    responses=problem_responses(404, described={403: "Not the applicant", 409: "Not allowed now"}),
)
async def withdraw(
    code: str,
    body: Withdrawal,
    caller: Annotated[Caller, authenticated(Role.CITIZEN, Role.PORTAL)],
    context: RoutingContext,
    units_of_work: UnitsOfWork,
) -> dict[str, Any]:
    """By the applicant (citizen token) or the portal at the desk."""
    async with units_of_work() as uow:
        dossier = await _applicants_dossier(uow, code, body, caller)
        try:
            dossier.withdraw(body.reason, context)
        except IllegalTransition as refused:
            raise ProblemError(409, "Cannot withdraw", refused.reason) from None
        uow.collect(dossier)
    return await _view(code, caller, context, units_of_work)


@router.post(
    "/dossiers/{code}/supplement",
    summary="The applicant sends the supplement an agency asked for; the step and its clock resume",
    responses=problem_responses(404, described={403: "Not the applicant", 409: "No supplement awaited"}),
)
async def supplement(
    code: str,
    body: Supplement,
    caller: Annotated[Caller, authenticated(Role.CITIZEN, Role.PORTAL)],
    context: RoutingContext,
    units_of_work: UnitsOfWork,
) -> dict[str, Any]:
    """By the applicant (citizen token) or the portal at the desk."""
    async with units_of_work() as uow:
        dossier = await _applicants_dossier(uow, code, body, caller)
        # The supplement and what it sets off (the agency's event, notifications) join the dossier's
        # trace; the request's own span is linked to it.
        with continued_trace("supplement dossier", dossier.trace_context):
            mark_dossier(dossier.code, str(dossier.id))
            try:
                dossier.supplement(body.step, body.note, body.documents, context)
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
            uow.collect(dossier)
    return await _view(code, caller, context, units_of_work)


async def _view(
    code: str, caller: Caller, context: RoutingContext, units_of_work: UnitsOfWork
) -> dict[str, Any]:
    """The dossier as `caller` may see it; a read, so run again if the pooled connection turned out dead
    (the database restarted since it was last used)."""

    async def read() -> dict[str, Any]:
        async with units_of_work() as uow:
            await one_snapshot(uow.session)  # the dossier, its steps and its timeline as of one moment
            dossier = await dossier_by_code(uow.session, code)
            if dossier is None or not await _may_read(uow, dossier.id, dossier.applicant_personal_id, caller):
                raise ProblemError(404, "Not found", f"no dossier {code!r} has reached routing")
            shown = await dossier_document(uow.session, dossier, context.catalogue, context.calendar)
        if caller.is_citizen(dossier.applicant_personal_id) and dossier.rejection_reasons:
            shown["rejection_reasons"] = list(dossier.rejection_reasons)
        return shown

    return await retry_dropped_connection(read)


async def _may_read(uow: RoutingUnitOfWork, dossier_id: UUID, applicant: str, caller: Caller) -> bool:
    if caller.role in {Role.PORTAL, Role.OPERATOR}:
        return True
    if caller.role is Role.AGENCY:  # an agency reads the dossiers it holds a step of, no others
        return await holds_a_step(uow.session, dossier_id, caller.subject)
    return caller.is_citizen(applicant)


async def _applicants_dossier(
    uow: RoutingUnitOfWork, code: str, body: CitizenRequest, caller: Caller
) -> Dossier:
    """The dossier, locked, once the caller is known to act for its applicant."""
    dossier = await uow.dossiers.by_code(code)
    if dossier is None or (
        caller.role is Role.CITIZEN and not caller.is_citizen(dossier.applicant_personal_id)
    ):
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
