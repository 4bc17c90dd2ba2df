"""Verifying a submitted dossier: its applicant (and, for a business procedure, the enterprise it acts for)
against the national records, the facts the procedure needs from them, and what the registry records."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dossierbus_registry.domain.access_log import Access
from dossierbus_registry.domain.dossiers import Dossier
from dossierbus_registry.domain.national import Citizen, Enterprise
from dossierbus_registry.domain.once_only import field_counts
from dossierbus_shared.catalogue import Procedure
from dossierbus_shared.events import Applicant, DossierSubmitted, DossierVerified
from dossierbus_shared.identifiers import normalise_tax_code, personal_id_problems, tax_code_problems

REGISTRY = "registry"
"""The access log names the registry itself as the reader of the verification lookups."""


def normalise_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def verify(applicant: Applicant, citizen: Citizen | None) -> list[str]:
    """Why the applicant does not match the national record; empty when verified."""
    problems = personal_id_problems(applicant.personal_id, applicant.date_of_birth)
    if problems:
        return problems
    if citizen is None:
        return ["personal_id not found in the national population database"]
    if normalise_name(applicant.full_name) != normalise_name(citizen.full_name):
        problems.append("full_name differs from the national population database")
    if applicant.date_of_birth != citizen.date_of_birth:
        problems.append("date_of_birth differs from the national population database")
    return problems


def verify_enterprise(tax_code: str, enterprise: Enterprise | None, applicant_id: str) -> list[str]:
    """Why the enterprise cannot be acted for by this applicant; empty when it can."""
    problems = tax_code_problems(tax_code)
    if problems:
        return problems
    if enterprise is None:
        return [f"tax code {tax_code!r} not found in the national business registration database"]
    problems = []
    if enterprise.status != "active":
        problems.append(f"the enterprise is {enterprise.status}")
    if enterprise.legal_representative_id != applicant_id:
        problems.append("the applicant is not the enterprise's legal representative")
    return problems


def enterprise_tax_code(procedure: Procedure | None, form: Mapping[str, Any]) -> str | None:
    """The tax code a business procedure's form names (normalised, maybe malformed); None for others."""
    if procedure is None or not procedure.enterprise_field:
        return None
    return normalise_tax_code(str(form.get(procedure.enterprise_field, "")))


def enterprise_to_read(procedure: Procedure | None, form: Mapping[str, Any]) -> str | None:
    """The tax code to look up in the business database: none when it is malformed, which is refused
    without asking the national database."""
    tax_code = enterprise_tax_code(procedure, form)
    return None if tax_code is None or tax_code_problems(tax_code) else tax_code


@dataclass(frozen=True)
class Verification:
    """What verifying a submitted dossier decides: the dossier as the registry keeps it (closed at once
    when rejected), the access-log entry of reading its applicant, and the event that tells routing."""

    dossier: Dossier
    access: Access
    verified: DossierVerified


def verify_submission(
    submitted: DossierSubmitted,
    procedure: Procedure | None,
    citizen: Citizen | None,
    enterprise: Enterprise | None,
    now: datetime,
) -> Verification:
    """Verify against the applicant's population record and the business record of the tax code that
    `enterprise_to_read` names (None: not found, or not read); deliver only the facts the procedure
    needs."""
    reasons = verify(submitted.applicant, citizen)
    facts: dict[str, str] = {}
    tax_code = enterprise_tax_code(procedure, submitted.form)
    if procedure is None:
        reasons.append(f"unknown procedure {submitted.procedure_code!r}")
    elif tax_code is not None:
        reasons += verify_enterprise(tax_code, enterprise, submitted.applicant.personal_id)
        if enterprise and not reasons:
            facts |= {
                f"enterprise.{name}": enterprise.fact(name) for name in procedure.national_facts["business"]
            }
    if procedure and citizen and not reasons:
        facts |= {name: citizen.fact(name) for name in procedure.national_facts.get("population", [])}
    from_national, typed = field_counts(submitted, len(facts))
    dossier = Dossier(
        code=submitted.dossier_code,
        procedure_code=submitted.procedure_code,
        personal_id=submitted.applicant.personal_id,
        tax_code=tax_code,
        submitted_at=submitted.submitted_at,
        closed_at=now if reasons else None,
        fields_from_national_data=from_national,
        fields_typed=typed,
    )
    access = Access(
        subject=submitted.applicant.personal_id,
        agency_code=REGISTRY,
        procedure_code=submitted.procedure_code,
        dossier_code=submitted.dossier_code,
        consent_id=None,
        fields=sorted(name for name in facts if not name.startswith("enterprise.")),
        outcome="granted" if citizen else "refused",
        reason="verification of the applicant" if citizen else "not found",
    )
    verified = DossierVerified(
        dossier_id=submitted.dossier_id,
        dossier_code=submitted.dossier_code,
        procedure_code=submitted.procedure_code,
        receiving_unit=submitted.receiving_unit,
        outcome="rejected" if reasons else "verified",
        reasons=reasons,
        channel=submitted.channel,
        applicant=submitted.applicant,
        form=submitted.form,
        national_facts=facts,
        submitted_at=submitted.submitted_at,
        due_date=submitted.due_date,
        verified_at=now,
    )
    return Verification(dossier, access, verified)
