"""Who is calling: citizens (OpenID Connect), the portal, agencies (API tokens), operators, auditors."""

from dossierbus_shared.auth.callers import Caller, Role
from dossierbus_shared.auth.dependencies import (
    Authenticator,
    authenticated,
    authenticator_of,
    document_authentication,
    identified,
    marks_caller_check,
)
from dossierbus_shared.auth.oidc import InvalidToken, IssuerUnavailable, OidcVerifier
from dossierbus_shared.auth.tokens import StaticTokens, token_digest

__all__ = [
    "Authenticator",
    "Caller",
    "InvalidToken",
    "IssuerUnavailable",
    "OidcVerifier",
    "Role",
    "StaticTokens",
    "authenticated",
    "authenticator_of",
    "document_authentication",
    "identified",
    "marks_caller_check",
    "token_digest",
]
