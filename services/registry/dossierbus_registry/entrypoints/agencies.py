"""The agency directory (public) and onboarding (operators)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from dossierbus_registry.agencies import (
    AgencyExists,
    Credentials,
    InvalidPublicKey,
    UnknownAgency,
    checked_public_key,
)
from dossierbus_registry.entrypoints.auth import Operator, WebhookSecretsReader
from dossierbus_registry.entrypoints.dependencies import AgenciesDep
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import AGENCY_CODE_PATTERN
from dossierbus_shared.http_errors import ProblemError, problem_responses
from dossierbus_shared.result_urls import checked_domain

router = APIRouter(tags=["agencies"])
AgencyCode = Annotated[str, Path(pattern=AGENCY_CODE_PATTERN)]


class Handles(BaseModel):
    """A procedure step this agency handles, for dossiers received by one unit (or by any)."""

    model_config = ConfigDict(extra="forbid")

    procedure_code: str
    step: str
    receiving_unit: str | None = None


class Onboarding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=AGENCY_CODE_PATTERN, description="Names the agency's topics")
    identifier: str = Field(min_length=1, max_length=64, description="Unit code under QCVN 102:2016/BTTTT")
    name: dict[str, str] = Field(description='At least {"vi": ...}; "en" welcome')
    sector: str = Field(min_length=1, max_length=64)
    webhook_url: HttpUrl | None = None
    public_key: str | None = Field(
        default=None, description="The agency's Ed25519 public key (PEM); the registry makes a pair if absent"
    )
    handles: list[Handles] = Field(default_factory=list)
    result_domains: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Host names its result documents are published on (https only, exact names);"
        " a report with a result URL elsewhere is refused",
    )

    @field_validator("result_domains")
    @classmethod
    def _host_names(cls, domains: list[str]) -> list[str]:
        return checked_domains(domains)

    @field_validator("name")
    @classmethod
    def _has_vietnamese_name(cls, name: dict[str, str]) -> dict[str, str]:
        if not name.get("vi"):
            raise ValueError("a Vietnamese name (`vi`) is required")
        return name

    @field_validator("public_key")
    @classmethod
    def _is_ed25519(cls, pem: str | None) -> str | None:
        return checked_public_key(pem) if pem else None

    @field_validator("handles")
    @classmethod
    def _steps_exist(cls, handles: list[Handles]) -> list[Handles]:
        for item in handles:
            procedure = default_catalogue().procedure(item.procedure_code)
            if procedure is None:
                raise ValueError(f"unknown procedure {item.procedure_code!r}")
            if item.step not in {step.id for step in procedure.steps}:
                raise ValueError(f"procedure {procedure.code} has no step {item.step!r}")
        return handles


def checked_domains(domains: list[str]) -> list[str]:
    return sorted({checked_domain(domain) for domain in domains})


class ResultDomains(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result_domains: list[str] = Field(
        max_length=20, description="Host names its result documents are published on (replaces the list)"
    )

    @field_validator("result_domains")
    @classmethod
    def _host_names(cls, domains: list[str]) -> list[str]:
        return checked_domains(domains)


def _credentials(credentials: Credentials) -> dict[str, Any]:
    issued: dict[str, Any] = {
        "api_token": credentials.api_token,
        "webhook_secret": credentials.webhook_secret,
    }
    if credentials.private_key_pem:
        issued["private_key_pem"] = credentials.private_key_pem
    return issued


@router.get("/agencies", summary="The agency directory: codes, topics, public keys, webhooks")
async def directory(catalogue: AgenciesDep) -> dict[str, Any]:
    """Read by every service every few seconds."""
    return {"agencies": [agency.public_view() for agency in await catalogue.all()]}


@router.get("/agencies/{code}", summary="One agency's directory entry", responses=problem_responses(404))
async def directory_entry(code: AgencyCode, catalogue: AgenciesDep) -> dict[str, Any]:
    agency = await catalogue.get(code)
    if agency is None:
        raise ProblemError(404, "Not found", f"no agency {code!r}")
    return agency.public_view()


@router.get(
    "/agencies/{code}/webhook-secret",
    dependencies=[WebhookSecretsReader],
    summary="The secret webhooks to this agency are signed with (the notifications service's token only)",
    responses=problem_responses(401, 404),
)
async def webhook_secret(code: AgencyCode, catalogue: AgenciesDep) -> dict[str, str]:
    secret = await catalogue.webhook_secret(code)
    if secret is None:
        raise ProblemError(404, "Not found", f"no webhook secret issued to agency {code!r}")
    return {"webhook_secret": secret}


@router.post(
    "/agencies",
    status_code=201,
    dependencies=[Operator],
    summary="Onboard an agency: create its topics and issue its credentials (shown once)",
    responses=problem_responses(401, described={409: "The agency exists"}),
)
async def onboard(body: Onboarding, catalogue: AgenciesDep) -> dict[str, Any]:
    try:
        record, credentials = await catalogue.onboard(
            code=body.code,
            identifier=body.identifier,
            name=body.name,
            sector=body.sector,
            webhook_url=str(body.webhook_url) if body.webhook_url else None,
            public_key=body.public_key,
            handles=[item.model_dump() for item in body.handles],
            result_domains=body.result_domains,
        )
    except AgencyExists:
        raise ProblemError(
            409, "Conflict", f"agency {body.code!r} exists; rotate its credentials instead"
        ) from None
    return {"agency": record.public_view(), "credentials": _credentials(credentials)}


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_key: str | None = Field(
        default=None, description="A new Ed25519 public key (PEM); else a new pair"
    )


@router.post(
    "/agencies/{code}/credentials",
    dependencies=[Operator],
    summary="Issue new credentials to an agency; the previous token and secret stop working",
    responses=problem_responses(401, 404),
)
async def rotate(code: AgencyCode, body: Rotation, catalogue: AgenciesDep) -> dict[str, Any]:
    try:
        key = checked_public_key(body.public_key) if body.public_key else None
        credentials = await catalogue.issue_credentials(code, public_key=key)
    except InvalidPublicKey as error:
        raise ProblemError(
            422, "Invalid request", str(error), errors=[{"field": "public_key", "message": str(error)}]
        ) from None
    except UnknownAgency:
        raise ProblemError(404, "Not found", f"no agency {code!r}") from None
    return {"credentials": _credentials(credentials)}


@router.put(
    "/agencies/{code}/result-domains",
    dependencies=[Operator],
    summary="Set the host names an agency publishes result documents on",
)
async def set_result_domains(code: AgencyCode, body: ResultDomains, catalogue: AgenciesDep) -> dict[str, Any]:
    try:
        record = await catalogue.set_result_domains(code, body.result_domains)
    except UnknownAgency:
        raise ProblemError(404, "Not found", f"no agency {code!r}") from None
    return {"agency": record.public_view()}
