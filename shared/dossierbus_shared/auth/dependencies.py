"""FastAPI dependencies that say who is calling, for every service.

    @router.get("/deliveries")
    async def deliveries(caller: Annotated[Caller, authenticated(Role.OPERATOR)]) -> ...

answers 401 without a token or with one no role accepts, 403 when the caller's role is not among those
named. `identified()` is the same without the role check, for endpoints that decide per object (the
applicant of this dossier, the agency assigned to it) or accept another proof (a tracking secret).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dossierbus_shared.auth.callers import Caller, Role
from dossierbus_shared.auth.oidc import InvalidToken, IssuerUnavailable, OidcVerifier
from dossierbus_shared.auth.tokens import StaticTokens, agency_by_digest
from dossierbus_shared.http_errors import ProblemError, problem_responses
from dossierbus_shared.settings import ServiceSettings

log = logging.getLogger(__name__)

bearer = HTTPBearer(
    auto_error=False,
    description="A citizen's OpenID Connect token, or the portal's, an agency's, an operator's or an "
    "auditor's token",
)


class AgencyTokens(Protocol):
    """Where agencies' token digests come from: the agency directory (digest -> agency code)."""

    def token_digests(self) -> dict[str, str]: ...


class Authenticator:
    def __init__(
        self,
        *,
        static: StaticTokens,
        oidc: OidcVerifier | None = None,
        agencies: AgencyTokens | None = None,
    ) -> None:
        self.static = static
        self.oidc = oidc
        self.agencies = agencies

    @classmethod
    def from_settings(cls, settings: ServiceSettings, agencies: AgencyTokens | None = None) -> Authenticator:
        def secret(value: Any) -> str | None:
            return value.get_secret_value() if value is not None else None

        oidc = (
            OidcVerifier(
                settings.oidc_issuer,
                settings.oidc_audience,
                personal_id_claim=settings.oidc_personal_id_claim,
            )
            if settings.oidc_issuer
            else None
        )
        static = StaticTokens(
            {
                Role.PORTAL: secret(settings.portal_token),
                Role.OPERATOR: secret(settings.operator_token),
                Role.AUDITOR: secret(settings.auditor_token),
            }
        )
        return cls(static=static, oidc=oidc, agencies=agencies)

    async def caller(self, token: str) -> Caller:
        """Who this bearer token is; ProblemError 401 when nobody (503 when the eID issuer is down)."""
        if token.count(".") == 2:  # a JWS in compact form: a citizen's token
            if self.oidc is None:
                raise _unauthenticated("citizen tokens are not accepted here (OIDC_ISSUER is not set)")
            try:
                identity = await self.oidc.verify(token)
            except InvalidToken as invalid:
                log.info("citizen token refused: %s", invalid)
                raise _unauthenticated(f"invalid citizen token: {invalid}") from None
            except IssuerUnavailable:
                raise ProblemError(
                    503, "Identity provider unavailable", "citizen tokens cannot be checked right now"
                ) from None
            return Caller(Role.CITIZEN, identity.personal_id)
        found = self.static.caller(token)
        if found is None and self.agencies is not None:
            found = agency_by_digest(token, self.agencies.token_digests())
        if found is None:
            raise _unauthenticated("unknown token")
        return found


def _unauthenticated(detail: str) -> ProblemError:
    return ProblemError(401, "Unauthenticated", detail)


def authenticator_of(request: Request) -> Authenticator:
    """The app's authenticator; a service that set none gets one from its settings (without agencies)."""
    found: Authenticator | None = getattr(request.app.state, "authenticator", None)
    if found is None:
        found = Authenticator.from_settings(request.app.state.service.settings)
        request.app.state.authenticator = found
    return found


CallerCheck = TypeVar("CallerCheck", bound=Callable[..., Any])


def marks_caller_check(check: CallerCheck, *, checks_role: bool = False) -> CallerCheck:
    """Mark a dependency as saying who calls (it may answer 401) and, with `checks_role`, as refusing some
    callers (403): document_authentication documents those answers on every route that uses it."""
    check.identifies_caller = True  # type: ignore[attr-defined]
    check.checks_role = checks_role  # type: ignore[attr-defined]
    return check


@marks_caller_check
async def _optional_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller | None:
    if credentials is None:
        if request.headers.get("authorization"):
            raise _unauthenticated("send `Authorization: Bearer <token>`")
        return None
    return await authenticator_of(request).caller(credentials.credentials)


def identified() -> Any:
    """Depends(...) giving the Caller, or None when the request carries no Authorization header."""
    return Depends(_optional_caller)


def authenticated(*roles: Role) -> Any:
    """Depends(...) giving the Caller; 401 without a valid token, 403 for a role not in `roles`."""
    allowed = frozenset(roles)

    async def dependency(caller: Annotated[Caller | None, Depends(_optional_caller)]) -> Caller:
        if caller is None:
            raise _unauthenticated("send `Authorization: Bearer <token>`")
        if caller.role not in allowed:
            raise ProblemError(403, "Forbidden", f"the {caller.role.value} role may not do this")
        return caller

    return Depends(marks_caller_check(dependency, checks_role=True))


def document_authentication(router: APIRouter) -> None:
    """Add 401 (and 403 where a role is checked) to the OpenAPI answers of every route of `router` that
    says who is calling, so what each operation may answer is documented where the check is, not route
    by route. Call before the router is included in its app."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        calls = {dependant.call for dependant in _dependants(route.dependant)}
        if not any(getattr(call, "identifies_caller", False) for call in calls):
            continue
        statuses = (401, 403) if any(getattr(call, "checks_role", False) for call in calls) else (401,)
        route.responses = {**problem_responses(*statuses), **route.responses}


def _dependants(dependant: Dependant) -> list[Dependant]:
    return [dependant, *(nested for child in dependant.dependencies for nested in _dependants(child))]
