"""Verifying an applicant against the population database, free of I/O."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from dossierbus_shared.events import Applicant


@dataclass(frozen=True)
class Citizen:
    """A record of the national population database (CSDLQG về dân cư)."""

    personal_id: str
    full_name: str
    date_of_birth: date
    sex: str
    permanent_address: str

    def fact(self, name: str) -> str:
        value = getattr(self, name)
        return value.isoformat() if isinstance(value, date) else str(value)


def normalise_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def personal_id_problems(personal_id: str, date_of_birth: date) -> list[str]:
    """Structure of the 12-digit number: province (3), century and sex (1), birth year (2), random (6)."""
    if len(personal_id) != 12 or not personal_id.isdigit():
        return ["personal_id must be 12 digits"]
    century = (int(personal_id[3]) // 2 + 19) * 100
    if century + int(personal_id[4:6]) != date_of_birth.year:
        return ["personal_id does not match the applicant's year of birth"]
    return []


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
