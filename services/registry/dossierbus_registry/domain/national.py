"""The records of the national databases, as the registry reads them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


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
