"""The roles of callers other than agencies, as `dossierbus_shared.auth` authenticates them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fastapi import Request

from dossierbus_registry.consents import CitizenAct


class Role(StrEnum):
    CITIZEN = "citizen"
    PORTAL = "portal"
    AGENCY = "agency"
    OPERATOR = "operator"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class Caller:
    role: Role
    subject: str


async def authenticate_participant(request: Request, token: str) -> Caller | None:
    """A citizen, the portal or an auditor; None for a token that is none of them."""
    return None


async def citizen_act(request: Request, token: str) -> CitizenAct | None:
    """What the citizen's verified eID token proves, to keep as evidence of an act of theirs."""
    return None
