"""Satisfaction ratings: one per dossier once its processing has ended, staged as `dossier.rated` in the
transaction that stores it. Intake learns that a dossier ended from routing's `dossier.status-changed`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from dossierbus_intake.adapters.tables import dossiers, ratings
from dossierbus_shared.db import Database
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierRated, DossierStatus, DossierStatusChanged
from dossierbus_shared.outbox import stage
from dossierbus_shared.telemetry import mark_dossier
from dossierbus_shared.unit_of_work import UnitOfWork


class RatingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(strict=True, ge=1, le=5, description="1 (very dissatisfied) to 5 (very satisfied)")


# The statuses after which nothing more happens to a dossier: the applicant can judge the whole service.
FINAL = frozenset({DossierStatus.RETURNED, DossierStatus.REJECTED, DossierStatus.WITHDRAWN})


class UnknownDossier(Exception):
    pass


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


class Ratings:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def rate(self, code: str, score: int) -> tuple[Rating, bool]:
        """The rating, and whether this call recorded it (False: the same rating was given before).
        A different score for a dossier already rated raises AlreadyRated."""
        async with self.db.transaction() as session:
            dossier = (
                await session.execute(
                    select(dossiers.c.id, dossiers.c.procedure_code, dossiers.c.finished_at).where(
                        dossiers.c.code == code
                    )
                )
            ).first()
            if dossier is None:
                raise UnknownDossier(code)
            if dossier.finished_at is None:
                raise NotFinished(code)
            mark_dossier(code, str(dossier.id))
            now = datetime.now(UTC)
            recorded = await session.execute(
                insert(ratings)
                .values(dossier_id=dossier.id, score=score, rated_at=now)
                .on_conflict_do_nothing()
                .returning(ratings.c.dossier_id)
            )
            if recorded.first() is None:
                earlier = (
                    await session.execute(select(ratings).where(ratings.c.dossier_id == dossier.id))
                ).one()
                if earlier.score != score:
                    raise AlreadyRated(earlier.score)
                return Rating(code, earlier.score, earlier.rated_at), False
            event = DossierRated(
                dossier_id=dossier.id,
                dossier_code=code,
                procedure_code=dossier.procedure_code,
                score=score,
                rated_at=now,
            )
            # The dossier code starts with the identifier of the unit that received it.
            unit = code.rsplit("-", 2)[0]
            await stage(session, Envelope(event, source=f"urn:dossierbus:intake:{unit}"))
        return Rating(code, score, now), True

    async def on_status_changed(self, work: UnitOfWork, envelope: Envelope[DossierStatusChanged]) -> None:
        session = work.session
        changed = envelope.data
        # The latest status, for citizens who track the dossier with its secret (events of one dossier
        # arrive in order: they share its partition).
        await session.execute(
            dossiers.update().where(dossiers.c.id == changed.dossier_id).values(status=changed.status.value)
        )
        if changed.status in FINAL:
            # A dossier received by another receiving unit is not in this table: nothing to update.
            await session.execute(
                dossiers.update()
                .where(dossiers.c.id == changed.dossier_id, dossiers.c.finished_at.is_(None))
                .values(finished_at=changed.changed_at)
            )
