"""Purpose binding, free of I/O: may this agency read these facts about this subject for this dossier?

Every refusal names its reason, so the agency can fix the request and the citizen can see it in the
access log.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from dossierbus_registry.domain.dossiers import Dossier
from dossierbus_shared.catalogue import Procedure

Database = Literal["population", "business"]
RefusalReason = Literal[
    "unknown_procedure",
    "procedure_not_in_effect",
    "agency_not_involved",
    "no_live_dossier",
    "not_the_dossier_subject",
    "fields_beyond_purpose",
    "consent_missing",
    "consent_invalid",
]


class Refused(Exception):
    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Consent:
    id: uuid.UUID
    personal_id: str
    procedure_code: str
    dossier_code: str | None
    granted_at: datetime
    expires_at: datetime | None
    withdrawn_at: datetime | None
    by_the_citizen: bool = True
    """Given by the citizen's own authenticated act (evidence: their signed eID token)."""

    def problem(
        self, personal_id: str, procedure_code: str, dossier_code: str | None, now: datetime
    ) -> str | None:
        """Why this consent does not cover the lookup; None when it does."""
        if not self.by_the_citizen:
            return "the consent was recorded without the citizen's authenticated act"
        if self.personal_id != personal_id:
            return "the consent was given by another person"
        if self.procedure_code != procedure_code:
            return f"the consent is for procedure {self.procedure_code}, not {procedure_code}"
        if self.dossier_code is not None and self.dossier_code != dossier_code:
            return f"the consent is for dossier {self.dossier_code} only"
        if self.withdrawn_at is not None and self.withdrawn_at <= now:
            return f"the consent was withdrawn at {self.withdrawn_at.isoformat()}"
        if self.expires_at is not None and self.expires_at <= now:
            return f"the consent expired at {self.expires_at.isoformat()}"
        return None


def allowed_fields(
    procedure: Procedure | None,
    procedure_code: str,
    database: Database,
    requested: Sequence[str] | None,
    today: date,
) -> list[str]:
    """The fields the lookup may return: those the procedure needs from that database, nothing else."""
    if procedure is None:
        raise Refused("unknown_procedure", f"procedure {procedure_code!r} is not in the catalogue")
    if not procedure.in_effect(today):
        raise Refused("procedure_not_in_effect", f"procedure {procedure.code} has no legal basis in force")
    needed = procedure.national_facts.get(database, [])
    if not needed:
        raise Refused(
            "fields_beyond_purpose", f"procedure {procedure.code} needs nothing from the {database} database"
        )
    if requested is None:
        return list(needed)
    beyond = sorted(set(requested) - set(needed))
    if beyond:
        raise Refused(
            "fields_beyond_purpose",
            f"procedure {procedure.code} does not need {', '.join(beyond)}; it may read {', '.join(needed)}",
        )
    return list(dict.fromkeys(requested))


def check_assigned(holds_step: bool, agency_code: str, dossier_code: str) -> None:
    """Only an agency that routing assigned a step of this very dossier reads for it."""
    if not holds_step:
        raise Refused(
            "agency_not_involved", f"agency {agency_code} holds no assigned step of dossier {dossier_code}"
        )


def check_dossier(
    dossier: Dossier | None, dossier_code: str, procedure_code: str, database: Database, subject: str
) -> None:
    if dossier is None or not dossier.live:
        state = "is closed" if dossier else "is unknown to the registry"
        raise Refused("no_live_dossier", f"dossier {dossier_code} {state}")
    if dossier.procedure_code != procedure_code:
        raise Refused("no_live_dossier", f"dossier {dossier_code} is for procedure {dossier.procedure_code}")
    if dossier.subject(database) != subject:
        raise Refused(
            "not_the_dossier_subject", f"the subject is not the applicant of dossier {dossier_code}"
        )


PERSONAL_BUSINESS_FACTS = frozenset({"legal_representative_id"})
"""Facts of the business database that are personal data of a natural person (the legal representative):
they need that person's consent wherever a population fact would."""


def needs_consent(procedure: Procedure, database: Database, fields: Sequence[str], *, prefill: bool) -> bool:
    """Consent is needed where the procedure says so, and for every prefill (before any dossier); for the
    business database only when personal data of the legal representative is asked for."""
    if database == "business" and not PERSONAL_BUSINESS_FACTS & set(fields):
        return False
    return procedure.consent_required or prefill


def check_consent(
    procedure: Procedure,
    consent: Consent | None,
    consent_id: str | None,
    personal_id: str,
    dossier_code: str | None,
    now: datetime,
) -> None:
    """`consent`: the one named (`consent_id`), else the citizen's live consent found for this purpose."""
    if consent is None and consent_id is None:
        raise Refused(
            "consent_missing",
            f"procedure {procedure.code}: this lookup needs the consent of the person it is about, "
            "given by them through the portal",
        )
    if consent is None:
        raise Refused("consent_invalid", f"no consent {consent_id}")
    if problem := consent.problem(personal_id, procedure.code, dossier_code, now):
        raise Refused("consent_invalid", problem)
