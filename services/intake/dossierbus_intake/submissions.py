"""Submitting a dossier: validate, number, keep and stage `dossier.submitted`, in one transaction of two
statements (the dossier with its number, the outbox row); and looking a dossier up by its code."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from dossierbus_intake.adapters.repository import KeyAlreadyUsed
from dossierbus_intake.domain.dossier import Dossier
from dossierbus_intake.domain.submission import Receipt, Submission, SubmissionRequest
from dossierbus_intake.tracking import TrackingSecrets
from dossierbus_intake.unit_of_work import UnitsOfWork
from dossierbus_shared.calendar import PROVISIONAL_DEADLINES, WorkingCalendar
from dossierbus_shared.catalogue import Catalogue
from dossierbus_shared.db import retry_dropped_connection
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.telemetry import mark_dossier


class Submissions:
    def __init__(
        self,
        units: UnitsOfWork,
        catalogue: Catalogue,
        calendar: WorkingCalendar,
        receiving_units: list[str],
        tracking: TrackingSecrets | None = None,
    ) -> None:
        self.units = units
        self.tracking = tracking or TrackingSecrets(None)
        self.catalogue = catalogue
        self.calendar = calendar
        self.receiving_units = receiving_units
        """The units this intake serves; the first is the default."""
        self._in_flight: dict[tuple[str, str], asyncio.Task[tuple[Receipt, bool]]] = {}

    async def submit(self, request: SubmissionRequest, idempotency_key: str) -> tuple[Receipt, bool]:
        """The receipt, and whether this call created the dossier (False: a retry of an earlier call).

        Identical requests (same key, same body) arriving together share one piece of work: a portal
        retrying in a burst costs one transaction, not one database connection per retry. Across
        replicas the unique key in the database settles the race."""
        flight = (idempotency_key, request.fingerprint())
        if (running := self._in_flight.get(flight)) is not None:
            receipt, _ = await asyncio.shield(running)
            return receipt, False
        # A task of its own: a caller that goes away does not cancel the work the others wait for.
        task = asyncio.create_task(self._submit(request, idempotency_key))
        self._in_flight[flight] = task
        task.add_done_callback(lambda _: self._in_flight.pop(flight, None))
        return await asyncio.shield(task)

    async def _submit(self, request: SubmissionRequest, idempotency_key: str) -> tuple[Receipt, bool]:
        dossier_id = uuid.uuid4()
        submission = Submission.receive(
            request,
            idempotency_key,
            catalogue=self.catalogue,
            calendar=self.calendar,
            units=self.receiving_units,
            received_at=datetime.now(UTC),
            dossier_id=dossier_id,
            tracking_secret=self.tracking.secret_of(dossier_id),
        )
        try:
            code = await retry_dropped_connection(lambda: self._keep(submission))
        except KeyAlreadyUsed:  # a retry, or a request with the same key that just won the race
            return await retry_dropped_connection(lambda: self._replay(submission)), False
        return submission.receipt(code), True

    async def _keep(self, submission: Submission) -> str:
        async with self.units() as uow:
            code = await uow.dossiers.add(submission)
            mark_dossier(code, str(submission.dossier_id))
            uow.stage(Envelope(submission.submitted(code), source=submission.source))
            if submission.deadline.provisional:
                uow.after_commit(PROVISIONAL_DEADLINES.labels("submitted").inc)
        return code

    async def _replay(self, submission: Submission) -> Receipt:
        """The receipt of the dossier kept under the submission's key, or IdempotencyConflict."""
        async with self.units() as uow:
            dossier = await uow.dossiers.by_idempotency_key(submission.idempotency_key)
        if dossier is None:  # a used key belongs to a committed dossier, and dossiers are never deleted
            raise LookupError(f"no dossier under idempotency key {submission.idempotency_key!r}")
        dossier.check_retry(submission.fingerprint)
        secret = self.tracking.secret_of(dossier.id)
        return Receipt(
            dossier.id,
            dossier.code,
            dossier.procedure_code,
            dossier.submitted_at,
            dossier.due_date,
            dossier.deadline_provisional(self.calendar),
            secret if self.tracking.matches(dossier.id, dossier.tracking_secret_sha256) else None,
        )

    async def of_applicant(self, personal_id: str, limit: int) -> list[Dossier]:
        """The dossiers she submitted (or, for a business, submitted as its representative), newest first."""

        async def lookup() -> list[Dossier]:
            async with self.units() as uow:
                return await uow.dossiers.of_applicant(personal_id, limit)

        return await retry_dropped_connection(lookup)

    async def find(self, code: str) -> Dossier | None:
        async def lookup() -> Dossier | None:
            async with self.units() as uow:
                return await uow.dossiers.by_code(code)

        return await retry_dropped_connection(lookup)
