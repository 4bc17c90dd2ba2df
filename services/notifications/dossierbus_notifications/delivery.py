"""Notifying: handlers queue one notification per event and recipient (the unique key de-duplicates even
after redelivery); a dispatcher delivers queued ones, retrying with exponential backoff and jitter until
the attempts run out, and records every outcome in the delivery log."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Row, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_notifications import templates
from dossierbus_notifications.adapters.tables import notifications, recipients
from dossierbus_notifications.metrics import NOTIFICATION_FAILURES
from dossierbus_shared.db import Database
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierStatusChanged, DossierSubmitted

log = logging.getLogger(__name__)


class Channel(Protocol):
    name: str

    async def send(self, recipient: str, subject: str, body: str, message_id: str) -> None: ...


AWAITING_RECIPIENT = "awaiting_recipient"
"""A status change overtook the dossier's submission (different topics); filled in when it arrives."""


class Notifier:
    def __init__(self, db: Database, channel: Channel, *, max_attempts: int, backoff_s: float) -> None:
        self.db = db
        self.channel = channel
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s

    async def on_submitted(self, session: AsyncSession, envelope: Envelope[DossierSubmitted]) -> None:
        submitted = envelope.data
        applicant = submitted.applicant
        await session.execute(
            insert(recipients)
            .values(
                dossier_id=submitted.dossier_id,
                dossier_code=submitted.dossier_code,
                email=applicant.email,
                phone=applicant.phone,
            )
            .on_conflict_do_nothing()
        )
        await session.execute(
            update(notifications)
            .where(
                notifications.c.dossier_id == submitted.dossier_id,
                notifications.c.status == AWAITING_RECIPIENT,
            )
            .values(recipient=applicant.email or "", **self._deliverable(applicant.email))
        )
        message = templates.received(submitted.dossier_code, submitted.due_date.isoformat())
        await self._queue(
            session, envelope.id, submitted.dossier_id, submitted.dossier_code, applicant.email, message
        )

    async def on_status_changed(
        self, session: AsyncSession, envelope: Envelope[DossierStatusChanged]
    ) -> None:
        changed = envelope.data
        message = templates.status_changed(changed.dossier_code, changed.status, changed.note)
        if message is None:
            return
        recipient = (
            await session.execute(select(recipients).where(recipients.c.dossier_id == changed.dossier_id))
        ).first()
        await self._queue(
            session,
            envelope.id,
            changed.dossier_id,
            changed.dossier_code,
            recipient.email if recipient else None,
            message,
            known=recipient is not None,
        )

    async def _queue(
        self,
        session: AsyncSession,
        event_id: UUID,
        dossier_id: UUID,
        dossier_code: str,
        email: str | None,
        message: templates.Message,
        *,
        known: bool = True,
    ) -> None:
        values = {
            "event_id": event_id,
            "dossier_id": dossier_id,
            "dossier_code": dossier_code,
            "channel": self.channel.name,
            "recipient": email or "",
            "subject": message.subject,
            "body": message.body,
            **(self._deliverable(email) if known else {"status": AWAITING_RECIPIENT}),
        }
        await session.execute(insert(notifications).values(values).on_conflict_do_nothing())

    @staticmethod
    def _deliverable(email: str | None) -> dict[str, str]:
        if email:
            return {"status": "pending"}
        return {"status": "undeliverable", "last_error": "the applicant gave no email address"}

    async def dispatch_forever(self, poll_interval_s: float) -> None:
        while True:
            try:
                delivered = await self.dispatch_due()
            except Exception as error:  # database away: try again later
                log.warning("notification dispatcher: %s", error)
                delivered = 0
            if not delivered:
                await asyncio.sleep(poll_interval_s)

    async def dispatch_due(self, limit: int = 50) -> int:
        """Try every due notification once; returns how many were tried."""
        async with self.db.transaction() as session:
            due = (
                await session.execute(
                    select(notifications)
                    .where(
                        notifications.c.status == "pending",
                        notifications.c.next_attempt_at <= datetime.now(UTC),
                    )
                    .order_by(notifications.c.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in due:
                await session.execute(
                    update(notifications)
                    .where(notifications.c.id == row.id)
                    .values(**await self._attempt(row))
                )
        return len(due)

    async def _attempt(self, row: Row[Any]) -> dict[str, object]:
        attempts = row.attempts + 1
        try:
            await self.channel.send(row.recipient, row.subject, row.body, f"{row.event_id}.{row.channel}")
        except Exception as error:
            NOTIFICATION_FAILURES.labels(
                row.channel, "failed" if attempts >= self.max_attempts else "retry"
            ).inc()
            if attempts >= self.max_attempts:
                log.error("notification %s failed for good: %s", row.id, error)
                return {"attempts": attempts, "status": "failed", "last_error": str(error)}
            delay = self.backoff_s * 2 ** (attempts - 1) * random.uniform(0.5, 1.5)
            return {
                "attempts": attempts,
                "last_error": str(error),
                "next_attempt_at": datetime.now(UTC) + timedelta(seconds=delay),
            }
        return {
            "attempts": attempts,
            "status": "delivered",
            "delivered_at": datetime.now(UTC),
            "last_error": None,
        }
