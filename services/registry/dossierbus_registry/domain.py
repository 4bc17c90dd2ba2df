"""Verifying an applicant against the population database, free of I/O."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from dossierbus_shared.events import Applicant
from dossierbus_shared.identifiers import personal_id_problems, tax_code_problems


@dataclass(frozen=True)
class Citizen:
    """A record of the national population database (CSDLQG về dân cư)."""

    personal_id: str
    full_name: str
    date_of_birth: date
    sex: str
    permanent_address: str
    province_code: str
    """Current province (2 digits, Decision 19/2025)."""
    commune_code: str
    """Current commune (5 digits, Decision 19/2025)."""

    def fact(self, name: str) -> str:
        return _fact(self, name)


@dataclass(frozen=True)
class Enterprise:
    """A record of the national business registration database (CSDLQG về đăng ký doanh nghiệp)."""

    tax_code: str
    """Enterprise code = tax code: 10 digits, or 13 (`parent-NNN` without the dash) for a branch."""
    name: str
    legal_form: str
    legal_representative_id: str
    """Personal ID of the legal representative."""
    head_office_address: str
    province_code: str
    registered_on: date
    status: str
    """`active`, `suspended` or `dissolved`."""

    def fact(self, name: str) -> str:
        return _fact(self, name)


def _fact(record: object, name: str) -> str:
    value = getattr(record, name)
    return value.isoformat() if isinstance(value, date) else str(value)


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
