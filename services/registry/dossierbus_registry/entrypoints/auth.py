"""Who is calling the registry (bearer tokens): an agency by the API token the registry issued it, the
operators by the admin token, the notifications service by the webhook-secrets token; citizens, the
one-stop portal and auditors as `dossierbus_shared.auth` authenticates them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dossierbus_registry.agencies import AgencyRecord
from dossierbus_registry.entrypoints.dependencies import AgenciesDep, SettingsDep
from dossierbus_registry.entrypoints.roles import Role, authenticate_participant
from dossierbus_shared.auth import marks_caller_check
from dossierbus_shared.http_errors import ProblemError

bearer = HTTPBearer(
    auto_error=False,
    description="An agency's API token, the admin token, the portal's or an auditor's token, or a "
    "citizen's eID (OpenID Connect) token",
)
Token = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass(frozen=True)
class RegistryCaller:
    role: Role
    subject: str
    """The agency code, the citizen's personal ID, "portal" or "auditor"."""
    token: str
    agency: AgencyRecord | None = None


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        raise ProblemError(401, "Unauthenticated", "send `Authorization: Bearer <token>`")
    return credentials.credentials


async def calling(request: Request, credentials: Token, catalogue: AgenciesDep) -> RegistryCaller:
    """Any participant: an agency (checked first, by its registry-issued token), else a citizen, the
    portal or an auditor."""
    token = _token(credentials)
    agency = await catalogue.by_token(token)
    if agency is not None:
        return RegistryCaller(Role.AGENCY, agency.code, token, agency)
    caller = await authenticate_participant(request, token)
    return RegistryCaller(caller.role, caller.subject, token)


def only(*roles: Role) -> object:
    """A dependency: the caller, if it has one of `roles`; 403 otherwise."""

    async def check(caller: Annotated[RegistryCaller, Depends(calling)]) -> RegistryCaller:
        if caller.role not in roles:
            allowed = " or ".join(role.value for role in roles)
            raise ProblemError(
                403, "Forbidden", f"only the {allowed} may do this, not the {caller.role.value}"
            )
        return caller

    return Depends(marks_caller_check(check, checks_role=True))


async def operator(settings: SettingsDep, credentials: Token) -> None:
    if settings.registry_admin_token is None:
        raise ProblemError(503, "Onboarding disabled", "set REGISTRY_ADMIN_TOKEN to enable onboarding")
    if not secrets.compare_digest(_token(credentials), settings.registry_admin_token.get_secret_value()):
        raise ProblemError(401, "Unauthenticated", "not the admin token")


async def webhook_secrets_reader(settings: SettingsDep, credentials: Token) -> None:
    """The notifications service's token: it reads webhook secrets and nothing else."""
    expected = settings.webhook_secrets_token
    if expected is None or not secrets.compare_digest(_token(credentials), expected.get_secret_value()):
        raise ProblemError(401, "Unauthenticated", "not the webhook-secrets token (WEBHOOK_SECRETS_TOKEN)")


Agency = Annotated[RegistryCaller, only(Role.AGENCY)]
Citizen = Annotated[RegistryCaller, only(Role.CITIZEN)]
Portal = Annotated[RegistryCaller, only(Role.PORTAL)]
CitizenOrAuditor = Annotated[RegistryCaller, only(Role.CITIZEN, Role.AUDITOR)]
Auditor = Annotated[RegistryCaller, only(Role.AUDITOR)]
for _check in (calling, operator, webhook_secrets_reader):
    marks_caller_check(_check)
Operator = Depends(operator)
WebhookSecretsReader = Depends(webhook_secrets_reader)
