"""Citizens, the portal and auditors, as `dossierbus_shared.auth` authenticates them (agencies are known
to the registry itself, by the token digests it keeps)."""

from __future__ import annotations

from fastapi import Request

from dossierbus_registry.domain.consents import CitizenAct
from dossierbus_shared.auth import Caller, InvalidToken, IssuerUnavailable, Role, authenticator_of
from dossierbus_shared.http_errors import ProblemError

__all__ = ["Caller", "Role", "authenticate_participant", "citizen_act"]


async def authenticate_participant(request: Request, token: str) -> Caller:
    """A citizen, the portal or an auditor (or an operator); ProblemError 401 for anyone else."""
    return await authenticator_of(request).caller(token)


async def citizen_act(request: Request, token: str) -> CitizenAct:
    """What the citizen's verified eID token proves, to keep as evidence of an act of theirs."""
    oidc = authenticator_of(request).oidc
    if oidc is None:
        raise ProblemError(
            401, "Unauthenticated", "citizen tokens are not accepted here (OIDC_ISSUER is not set)"
        )
    try:
        identity = await oidc.verify(token)
    except InvalidToken as invalid:
        raise ProblemError(401, "Unauthenticated", f"invalid citizen token: {invalid}") from None
    except IssuerUnavailable:
        raise ProblemError(
            503, "Identity provider unavailable", "citizen tokens cannot be checked now"
        ) from None
    claims = identity.claims

    def number(name: str) -> int | None:
        value = claims.get(name)
        return value if isinstance(value, int) else None

    token_id = claims.get("jti")
    return CitizenAct(
        personal_id=identity.personal_id,
        token=token,
        issuer=str(claims.get("iss")),
        token_subject=str(claims.get("sub")),
        issued_at=number("iat"),
        expires_at=number("exp"),
        token_id=token_id if isinstance(token_id, str) else None,
    )
