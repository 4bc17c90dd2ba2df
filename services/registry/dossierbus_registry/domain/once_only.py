"""The once-only rate: of the facts a dossier needed, how many came from national data rather than
from the applicant's typing."""

from __future__ import annotations

from dossierbus_shared.events import DossierSubmitted

IDENTITY_FIELDS = frozenset({"applicant.personal_id", "applicant.email", "applicant.phone"})
"""What the applicant identifies with (e.g. by VNeID) is not typed data the state could have supplied."""


def field_counts(submitted: DossierSubmitted, national_facts: int) -> tuple[int, int]:
    """(fields from national data, fields typed): facts delivered plus prefilled fields, versus the rest."""
    given = {f"applicant.{name}" for name in ("full_name", "date_of_birth")} | {
        f"form.{name}" for name in submitted.form
    }
    prefilled = given & set(submitted.prefilled)
    return national_facts + len(prefilled), len(given - prefilled - IDENTITY_FIELDS)


def rate(from_national: int, typed: int) -> float | None:
    total = from_national + typed
    return round(from_national / total, 4) if total else None
