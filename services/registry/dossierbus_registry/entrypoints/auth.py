"""Who is calling: an agency by its API token, or an operator by the admin token (bearer tokens)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dossierbus_registry.agencies import AgencyCatalogue, AgencyRecord
from dossierbus_registry.settings import RegistrySettings
from dossierbus_shared.http_errors import ProblemError

bearer = HTTPBearer(auto_error=False, description="An agency's API token, or the operators' admin token")
Token = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        raise ProblemError(401, "Unauthenticated", "send `Authorization: Bearer <token>`")
    return credentials.credentials


async def calling_agency(request: Request, credentials: Token) -> AgencyRecord:
    catalogue: AgencyCatalogue = request.app.state.agencies
    agency = await catalogue.by_token(_token(credentials))
    if agency is None:
        raise ProblemError(401, "Unauthenticated", "unknown or revoked API token")
    return agency


async def operator(request: Request, credentials: Token) -> None:
    settings: RegistrySettings = request.app.state.settings
    if settings.registry_admin_token is None:
        raise ProblemError(503, "Onboarding disabled", "set REGISTRY_ADMIN_TOKEN to enable onboarding")
    if not secrets.compare_digest(_token(credentials), settings.registry_admin_token.get_secret_value()):
        raise ProblemError(401, "Unauthenticated", "not the admin token")


CallingAgency = Annotated[AgencyRecord, Depends(calling_agency)]
Operator = Depends(operator)
