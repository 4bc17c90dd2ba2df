from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from dossierbus_shared.events import DossierSubmitted


@dataclass(frozen=True)
class Recipient:
    """How to reach a dossier's applicant, learned from `dossier.submitted`."""

    dossier_id: UUID
    dossier_code: str
    applicant_personal_id: str | None
    """Who may read the dossier's delivery log besides staff."""
    email: str | None
    phone: str | None
    language: str | None
    procedure_code: str | None
    receiving_unit: str | None

    @classmethod
    def of(cls, submitted: DossierSubmitted) -> Recipient:
        applicant = submitted.applicant
        return cls(
            dossier_id=submitted.dossier_id,
            dossier_code=submitted.dossier_code,
            applicant_personal_id=applicant.personal_id,
            email=applicant.email,
            phone=applicant.phone,
            language=applicant.language,
            procedure_code=submitted.procedure_code,
            receiving_unit=submitted.receiving_unit,
        )
