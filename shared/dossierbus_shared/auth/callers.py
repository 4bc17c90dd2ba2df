"""Who is calling: one of five roles, and the subject the role acts as."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    CITIZEN = "citizen"
    """A person, by an OpenID Connect token of the national eID; acts only on her own dossiers."""
    PORTAL = "portal"
    """The one-stop portal, or an officer at its desk acting for a citizen."""
    AGENCY = "agency"
    """An onboarded agency system, by the API token the registry issued it."""
    OPERATOR = "operator"
    """Who runs the bus: queues, dead letters, deliveries."""
    AUDITOR = "auditor"
    """Who audits access to personal data."""


@dataclass(frozen=True)
class Caller:
    role: Role
    subject: str
    """The citizen's 12-digit personal ID, the agency code, or the role's name for the others."""

    def is_citizen(self, personal_id: str | None) -> bool:
        """This caller is the citizen with this personal ID."""
        return self.role is Role.CITIZEN and personal_id is not None and self.subject == personal_id
