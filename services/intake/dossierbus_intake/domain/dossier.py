"""A dossier intake has received: what routing last said of it, and its satisfaction rating (one per dossier
once its processing has ended, announced as `dossier.rated`). Routing's `dossier.status-changed` tells
intake the latest status and when the dossier ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from dossierbus_shared.calendar import WorkingCalendar
from dossierbus_shared.events import DossierRated, DossierStatus, DossierStatusChanged, Event

# The statuses after which nothing more happens to a dossier: the applicant can judge the whole service.
FINAL = frozenset({DossierStatus.RETURNED, DossierStatus.REJECTED, DossierStatus.WITHDRAWN})


class IdempotencyConflict(Exception):
    """The key was used before for a different request."""


class NotFinished(Exception):
    pass


class AlreadyRated(Exception):
    def __init__(self, score: int) -> None:
        super().__init__(f"already rated {score}")
        self.score = score


@dataclass(frozen=True)
class Rating:
    dossier_code: str
    score: int
    rated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"dossier_code": self.dossier_code, "score": self.score, "rated_at": self.rated_at.isoformat()}


@dataclass
class Dossier:
    id: UUID
    code: str
    procedure_code: str
    channel: str
    applicant_personal_id: str
    submitted_at: datetime
    due_date: date
    request_fingerprint: str
    tracking_secret_sha256: str | None
    status: str | None = None
    finished_at: datetime | None = None
    rating: Rating | None = None
    events: list[Event] = field(default_factory=list)
    """Events this dossier caused since it was loaded, for the outbox."""

    @property
    def receiving_unit(self) -> str:
        """The unit that received it: its identifier starts the dossier code."""
        return self.code.rsplit("-", 2)[0]

    @property
    def source(self) -> str:
        return f"urn:dossierbus:intake:{self.receiving_unit}"

    def check_retry(self, fingerprint: str) -> None:
        """A request under this dossier's idempotency key must repeat the one that created it:
        IdempotencyConflict when it is a different request."""
        if fingerprint != self.request_fingerprint:
            raise IdempotencyConflict(self.code)

    def deadline_provisional(self, calendar: WorkingCalendar) -> bool:
        """Whether the appointment date is still provisional (its years' schedules not all announced)."""
        return calendar.is_provisional(calendar.local_date(self.submitted_at), self.due_date)

    def status_changed(self, changed: DossierStatusChanged) -> None:
        """Routing's latest word. Events of one dossier arrive in order (they share its partition)."""
        self.status = changed.status.value
        if changed.status in FINAL and self.finished_at is None:
            self.finished_at = changed.changed_at

    def rate(self, score: int, now: datetime) -> tuple[Rating, bool]:
        """The rating, and whether this call gave it (False: the same score was given before). NotFinished
        while the dossier is processed; AlreadyRated for a score other than the one given."""
        if self.finished_at is None:
            raise NotFinished(self.code)
        if self.rating is not None:
            if self.rating.score != score:
                raise AlreadyRated(self.rating.score)
            return self.rating, False
        self.rating = Rating(self.code, score, now)
        self.events.append(
            DossierRated(
                dossier_id=self.id,
                dossier_code=self.code,
                procedure_code=self.procedure_code,
                score=score,
                rated_at=now,
            )
        )
        return self.rating, True

    def view(self, calendar: WorkingCalendar) -> dict[str, Any]:
        """What its applicant, the portal, operators or the holder of its tracking secret see."""
        return {
            "dossier_id": str(self.id),
            "dossier_code": self.code,
            "procedure_code": self.procedure_code,
            "channel": self.channel,
            "status": self.status,
            "submitted_at": self.submitted_at.isoformat(),
            "appointment_date": self.due_date.isoformat(),
            "deadline_provisional": self.deadline_provisional(calendar),
        }
