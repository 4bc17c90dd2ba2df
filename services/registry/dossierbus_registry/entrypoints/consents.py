"""Consent, recorded by the portal a citizen acts through, and withdrawable at any time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from dossierbus_registry.consents import Consents, UnknownConsent
from dossierbus_registry.entrypoints.auth import CallingAgency
from dossierbus_shared.bounds import BoundedDatetime
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import PERSONAL_ID_PATTERN
from dossierbus_shared.http_errors import ProblemError, problem_responses
from dossierbus_shared.identifiers import PersonalId

router = APIRouter(tags=["consents"])


class ConsentGiven(BaseModel):
    model_config = ConfigDict(extra="forbid")

    personal_id: PersonalId = Field(pattern=PERSONAL_ID_PATTERN)
    procedure_code: str = Field(min_length=1, max_length=32)
    dossier_code: str | None = Field(default=None, max_length=64, description="Only for this dossier")
    granted_via: Literal["vneid", "portal", "counter", "paper"]
    evidence: str = Field(
        min_length=1, max_length=2000, description="What proves the affirmative act (screen, form, signature)"
    )
    expires_at: BoundedDatetime | None = None


@router.post(
    "/consents",
    status_code=201,
    summary="Record a citizen's explicit consent to lookups",
    responses=problem_responses(401),
)
async def give(body: ConsentGiven, agency: CallingAgency, request: Request) -> dict[str, Any]:
    if default_catalogue().procedure(body.procedure_code) is None:
        detail = f"procedure_code {body.procedure_code!r} is not in the catalogue"
        raise ProblemError(
            422, "Invalid request", detail, errors=[{"field": "procedure_code", "message": detail}]
        )
    consents: Consents = request.app.state.consents
    expires: datetime | None = body.expires_at
    return await consents.give(
        personal_id=body.personal_id,
        procedure_code=body.procedure_code,
        dossier_code=body.dossier_code,
        granted_via=body.granted_via,
        evidence=body.evidence,
        recorded_by=agency.code,
        expires_at=expires,
    )


@router.post(
    "/consents/{consent_id}/withdraw",
    summary="Withdraw a consent; later lookups are refused",
    responses=problem_responses(401, 404),
)
async def withdraw(consent_id: uuid.UUID, agency: CallingAgency, request: Request) -> dict[str, Any]:
    consents: Consents = request.app.state.consents
    try:
        return await consents.withdraw(consent_id)
    except UnknownConsent:
        raise ProblemError(404, "Not found", f"no consent {consent_id}") from None


@router.get(
    "/consents/{personal_id}",
    summary="A citizen's consents, withdrawn ones included",
    responses=problem_responses(401),
)
async def of_citizen(
    personal_id: Annotated[str, Path(pattern=PERSONAL_ID_PATTERN)], agency: CallingAgency, request: Request
) -> dict[str, Any]:
    consents: Consents = request.app.state.consents
    return {"personal_id": personal_id, "consents": await consents.of(personal_id)}
