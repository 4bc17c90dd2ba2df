"""Bearer tokens that are not JWTs: the static tokens of the portal, operators and auditors (compared in
constant time), and agencies' API tokens, known to every service by their SHA-256 in the directory."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from dossierbus_shared.auth.callers import Caller, Role


def token_digest(token: str) -> str:
    """The SHA-256 the registry keeps and publishes of an API token; the token itself is never stored.
    Tokens are 256-bit random values, so the digest tells nothing that would help guess one."""
    return hashlib.sha256(token.encode()).hexdigest()


class StaticTokens:
    """One secret per role; a role whose secret is unset cannot log in."""

    def __init__(self, secrets: Mapping[Role, str | None]) -> None:
        # Compare digests, not tokens: equal lengths, so the comparison time says nothing about either.
        self._digests = {
            role: hashlib.sha256(secret.encode()).digest() for role, secret in secrets.items() if secret
        }

    def caller(self, token: str) -> Caller | None:
        presented = hashlib.sha256(token.encode()).digest()
        found = None
        for role, digest in self._digests.items():  # every role is compared: no early exit
            if hmac.compare_digest(presented, digest):
                found = Caller(role, role.value)
        return found


def agency_by_digest(token: str, digests: Mapping[str, str]) -> Caller | None:
    """The agency whose published token digest is this token's (digest -> agency code)."""
    code = digests.get(token_digest(token))
    return Caller(Role.AGENCY, code) if code else None
