"""Consent: given, listed and withdrawn by the citizen alone, with their own eID token (the portal's pages
send it on the citizen's behalf). No agency, nor the portal's own token, records, lists or withdraws one;
an agency sees only which consent a lookup of its relied on (in the answer and the access log)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from dossierbus_registry.consents import UnknownConsent
from dossierbus_registry.domain.consents import CitizenAct, ConsentRecord
from dossierbus_registry.entrypoints.auth import Citizen, RegistryCaller
from dossierbus_registry.entrypoints.dependencies import ConsentsDep
from dossierbus_registry.entrypoints.roles import citizen_act
from dossierbus_shared.bounds import BoundedDatetime
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import PERSONAL_ID_PATTERN
from dossierbus_shared.http_errors import ProblemError
from dossierbus_shared.identifiers import PersonalId

router = APIRouter(tags=["consents"])


class ConsentGiven(BaseModel):
    model_config = ConfigDict(extra="forbid")

    personal_id: PersonalId | None = Field(
        default=None, pattern=PERSONAL_ID_PATTERN, description="Optional: must be the token's own"
    )
    procedure_code: str = Field(min_length=1, max_length=32)
    dossier_code: str | None = Field(default=None, max_length=64, description="Only for this dossier")
    granted_via: Literal["vneid", "portal"] = Field(
        default="portal", description="Where the citizen gave it: the VNeID app or the portal's pages"
    )
    expires_at: BoundedDatetime | None = None


def _own(citizen: RegistryCaller, personal_id: str) -> None:
    if personal_id != citizen.subject:
        raise ProblemError(403, "Forbidden", "a citizen gives, lists and withdraws only their own consents")


async def _act(request: Request, citizen: RegistryCaller) -> CitizenAct:
    act = await citizen_act(request, citizen.token)
    if act.personal_id != citizen.subject:
        raise ProblemError(401, "Unauthenticated", "the eID token cannot serve as evidence of consent")
    return act


@router.post("/consents", status_code=201, summary="The citizen consents to lookups for a procedure")
async def give(
    body: ConsentGiven, citizen: Citizen, consents: ConsentsDep, request: Request
) -> dict[str, Any]:
    if body.personal_id is not None:
        _own(citizen, body.personal_id)
    if default_catalogue().procedure(body.procedure_code) is None:
        detail = f"procedure_code {body.procedure_code!r} is not in the catalogue"
        raise ProblemError(
            422, "Invalid request", detail, errors=[{"field": "procedure_code", "message": detail}]
        )
    expires: datetime | None = body.expires_at
    consent = await consents.give(
        await _act(request, citizen),
        procedure_code=body.procedure_code,
        dossier_code=body.dossier_code,
        granted_via=body.granted_via,
        recorded_by=f"citizen via {body.granted_via}",
        expires_at=expires,
    )
    return view(consent)


@router.post("/consents/{consent_id}/withdraw", summary="The citizen withdraws a consent of theirs")
async def withdraw(consent_id: uuid.UUID, citizen: Citizen, consents: ConsentsDep) -> dict[str, Any]:
    try:
        return view(await consents.withdraw(consent_id, citizen.subject))
    except UnknownConsent:
        raise ProblemError(404, "Not found", f"no consent {consent_id} of yours") from None


@router.get("/consents", summary="The calling citizen's consents, withdrawn ones included")
async def mine(citizen: Citizen, consents: ConsentsDep) -> dict[str, Any]:
    return {"personal_id": citizen.subject, "consents": [view(c) for c in await consents.of(citizen.subject)]}


@router.get("/consents/{personal_id}", summary="The same, naming the citizen (their own ID only)")
async def of_citizen(
    personal_id: Annotated[str, Path(pattern=PERSONAL_ID_PATTERN)], citizen: Citizen, consents: ConsentsDep
) -> dict[str, Any]:
    _own(citizen, personal_id)
    return {"personal_id": personal_id, "consents": [view(c) for c in await consents.of(personal_id)]}


def view(consent: ConsentRecord) -> dict[str, Any]:
    return {
        "consent_id": str(consent.id),
        "personal_id": consent.personal_id,
        "procedure_code": consent.procedure_code,
        "dossier_code": consent.dossier_code,
        "granted_via": consent.granted_via,
        "evidence_kind": consent.evidence_kind,
        "evidence": consent.evidence_given(),
        "recorded_by": consent.recorded_by,
        "granted_at": consent.granted_at.isoformat(),
        "expires_at": consent.expires_at.isoformat() if consent.expires_at else None,
        "withdrawn_at": consent.withdrawn_at.isoformat() if consent.withdrawn_at else None,
    }
