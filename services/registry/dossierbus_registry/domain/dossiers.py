"""A dossier as the registry knows it: whose it is, for which procedure, and whether it is still live
(a lookup must name a live dossier of its procedure and subject)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

FINAL_STATUSES = frozenset({"returned", "rejected", "withdrawn"})
"""Routing's statuses after which a dossier is closed."""


@dataclass
class Dossier:
    code: str
    procedure_code: str
    personal_id: str
    tax_code: str | None
    submitted_at: datetime
    closed_at: datetime | None = None
    fields_from_national_data: int = 0
    fields_typed: int = 0

    @property
    def live(self) -> bool:
        return self.closed_at is None

    def close(self, at: datetime) -> None:
        """No lookup may name it from now on; closing it again keeps the first time."""
        if self.closed_at is None:
            self.closed_at = at

    def subject(self, database: str) -> str | None:
        """Whom the dossier is about in that national database: its applicant, or its enterprise."""
        return self.personal_id if database == "population" else self.tax_code
