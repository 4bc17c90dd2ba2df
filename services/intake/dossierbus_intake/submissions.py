"""The submission use case: validate, number, persist and stage `dossier.submitted` in one transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_intake.adapters.tables import daily_sequences, dossiers
from dossierbus_intake.domain import (
    SubmissionRequest,
    appointment_date,
    dossier_code,
    validate_submission,
)
from dossierbus_intake.tracking import TrackingSecrets, tracking_digest
from dossierbus_shared.calendar import WorkingCalendar
from dossierbus_shared.catalogue import Catalogue
from dossierbus_shared.db import Database
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierSubmitted
from dossierbus_shared.outbox import stage
from dossierbus_shared.telemetry import mark_dossier


class IdempotencyConflict(Exception):
    """The key was used before for a different request."""


@dataclass(frozen=True)
class Receipt:
    dossier_id: uuid.UUID
    dossier_code: str
    procedure_code: str
    submitted_at: datetime
    appointment_date: date
    tracking_secret: str | None = None
    """None only for a retry answered after TRACKING_SECRET_KEY changed (see dossierbus_intake.tracking)."""

    def as_json(self) -> dict[str, Any]:
        tracking = {"tracking_secret": self.tracking_secret} if self.tracking_secret else {}
        return {
            "dossier_id": str(self.dossier_id),
            "dossier_code": self.dossier_code,
            "procedure_code": self.procedure_code,
            "status": "received",
            "submitted_at": self.submitted_at.isoformat(),
            "appointment_date": self.appointment_date.isoformat(),
            **tracking,
        }


@dataclass(frozen=True)
class TrackedDossier:
    """What intake keeps of a dossier for deciding who may see it, and the view it shows."""

    applicant_personal_id: str
    tracking_secret_sha256: str | None
    view: dict[str, Any]


class Submissions:
    def __init__(
        self,
        db: Database,
        catalogue: Catalogue,
        calendar: WorkingCalendar,
        receiving_units: list[str],
        tracking: TrackingSecrets | None = None,
    ) -> None:
        self.db = db
        self.tracking = tracking or TrackingSecrets(None)
        self.catalogue = catalogue
        self.calendar = calendar
        self.receiving_units = receiving_units
        """The units this intake serves; the first is the default."""

    async def submit(self, request: SubmissionRequest, idempotency_key: str) -> tuple[Receipt, bool]:
        """The receipt, and whether this call created the dossier (False: a retry of an earlier call)."""
        procedure, form = validate_submission(request, self.catalogue, self.receiving_units)
        unit = request.receiving_unit or self.receiving_units[0]
        fingerprint = request.fingerprint()
        if existing := await self._replay(idempotency_key, fingerprint):
            return existing, False
        try:
            async with self.db.transaction() as session:
                now = datetime.now(UTC)
                local_day = now.astimezone(self.calendar.timezone).date()
                code = dossier_code(unit, local_day, await self._next_sequence(session, unit, local_day))
                dossier_id = uuid.uuid4()
                tracking_secret = self.tracking.secret_of(dossier_id)
                receipt = Receipt(
                    dossier_id,
                    code,
                    procedure.code,
                    now,
                    appointment_date(self.calendar, procedure, now),
                    tracking_secret,
                )
                mark_dossier(code, str(receipt.dossier_id))
                await session.execute(
                    dossiers.insert().values(
                        id=receipt.dossier_id,
                        code=code,
                        idempotency_key=idempotency_key,
                        request_fingerprint=fingerprint,
                        procedure_code=procedure.code,
                        channel=request.channel.value,
                        applicant=request.applicant.model_dump(mode="json"),
                        form=form,
                        submitted_at=now,
                        due_date=receipt.appointment_date,
                        tracking_secret_sha256=tracking_digest(tracking_secret),
                        status="received",
                    )
                )
                event = DossierSubmitted(
                    dossier_id=receipt.dossier_id,
                    dossier_code=code,
                    procedure_code=procedure.code,
                    receiving_unit=unit,
                    channel=request.channel,
                    applicant=request.applicant,
                    form=form,
                    prefilled=request.prefilled,
                    submitted_at=now,
                    due_date=receipt.appointment_date,
                    tracking_secret=tracking_secret,
                )
                await stage(session, Envelope(event, source=f"urn:dossierbus:intake:{unit}"))
            return receipt, True
        except IntegrityError:
            # A concurrent request with the same key won the race: answer as it did.
            if existing := await self._replay(idempotency_key, fingerprint):
                return existing, False
            raise

    async def _replay(self, idempotency_key: str, fingerprint: str) -> Receipt | None:
        async with self.db.transaction() as session:
            row = (
                await session.execute(select(dossiers).where(dossiers.c.idempotency_key == idempotency_key))
            ).first()
        if row is None:
            return None
        if row.request_fingerprint != fingerprint:
            raise IdempotencyConflict(idempotency_key)
        secret = (
            self.tracking.secret_of(row.id)
            if self.tracking.matches(row.id, row.tracking_secret_sha256)
            else None
        )
        return Receipt(row.id, row.code, row.procedure_code, row.submitted_at, row.due_date, secret)

    async def _next_sequence(self, session: AsyncSession, unit: str, day: date) -> int:
        statement = (
            insert(daily_sequences)
            .values(receiving_unit=unit, day=day, last=1)
            .on_conflict_do_update(
                index_elements=[daily_sequences.c.receiving_unit, daily_sequences.c.day],
                set_={"last": daily_sequences.c.last + 1},
            )
            .returning(daily_sequences.c.last)
        )
        return int((await session.execute(statement)).scalar_one())

    async def find(self, code: str) -> TrackedDossier | None:
        async with self.db.transaction() as session:
            row = (await session.execute(select(dossiers).where(dossiers.c.code == code))).first()
        if row is None:
            return None
        return TrackedDossier(
            applicant_personal_id=row.applicant["personal_id"],
            tracking_secret_sha256=row.tracking_secret_sha256,
            view={
                "dossier_id": str(row.id),
                "dossier_code": row.code,
                "procedure_code": row.procedure_code,
                "channel": row.channel,
                "status": row.status,
                "submitted_at": row.submitted_at.isoformat(),
                "appointment_date": row.due_date.isoformat(),
            },
        )
