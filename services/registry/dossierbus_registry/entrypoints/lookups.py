"""Purpose-bound lookups by agencies holding a step of the dossier, and prefill for the one-stop portal."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dossierbus_registry.adapters.population import NationalDatabaseUnavailable
from dossierbus_registry.domain.purpose import Refused
from dossierbus_registry.entrypoints.auth import Agency, Portal
from dossierbus_registry.entrypoints.dependencies import LookupsDep
from dossierbus_registry.lookups import LookupRequest
from dossierbus_shared.events import PERSONAL_ID_PATTERN
from dossierbus_shared.http_errors import ProblemError, problem_responses
from dossierbus_shared.identifiers import PersonalId, TaxCode

router = APIRouter(tags=["lookups"])


class Subject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    procedure_code: str = Field(min_length=1, max_length=32)
    personal_id: PersonalId | None = Field(default=None, pattern=PERSONAL_ID_PATTERN)
    tax_code: TaxCode | None = Field(default=None, description="10 digits, or 13 for a branch (`-` optional)")
    consent_id: str | None = Field(
        default=None,
        max_length=64,
        description="The consent to rely on; default: the person's live consent for this procedure",
    )
    fields: list[str] | None = Field(
        default=None, description="Only these facts; default: every fact the procedure needs"
    )

    @model_validator(mode="after")
    def _one_subject(self) -> Subject:
        if (self.personal_id is None) == (self.tax_code is None):
            raise ValueError("give exactly one of personal_id and tax_code")
        return self

    def request(self, dossier_code: str | None) -> LookupRequest:
        database: Literal["population", "business"] = "population" if self.personal_id else "business"
        return LookupRequest(
            procedure_code=self.procedure_code,
            dossier_code=dossier_code,
            consent_id=self.consent_id,
            database=database,
            subject=self.personal_id or self.tax_code or "",
            fields=self.fields,
        )


class Lookup(Subject):
    dossier_code: str = Field(min_length=1, max_length=64, description="The live dossier this lookup serves")


async def _answer(call: Any) -> dict[str, Any]:
    try:
        result = await call
    except Refused as refusal:
        raise ProblemError(
            403,
            "Refused",
            refusal.detail,
            errors=[{"field": "purpose", "type": refusal.reason, "message": refusal.detail}],
        ) from None
    except NationalDatabaseUnavailable as outage:
        raise ProblemError(503, "National database unavailable", str(outage)) from None
    return {"found": result.found, "facts": result.facts, "consent_id": result.consent_id}


@router.post(
    "/lookups",
    summary="Facts about the subject of a live dossier whose step the agency holds, limited to its "
    "procedure's needs",
    responses=problem_responses(401, described={403: "Refused: no purpose for it"}),
)
async def lookup(body: Lookup, agency: Agency, lookups: LookupsDep) -> dict[str, Any]:
    return await _answer(lookups.lookup(agency.subject, body.request(body.dossier_code)))


@router.post(
    "/prefill",
    summary="The facts the one-stop portal fills into a procedure's form instead of asking (the citizen's "
    "consent needed)",
    responses=problem_responses(401, described={403: "Refused: no purpose for it"}),
)
async def prefill(body: Subject, portal: Portal, lookups: LookupsDep) -> dict[str, Any]:
    return await _answer(lookups.prefill(body.request(None)))
