"""Where notifications are kept: PostgreSQL. A batch of events needs one query (each dossier's recipient,
and whether notifications await it) and one statement, at the commit, to keep what it caused (the
transaction's pending writes); a delivery attempt, an UPDATE and that one statement."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Integer, Uuid, bindparam, exists, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_notifications.adapters.tables import delivery_attempts, notifications, recipients
from dossierbus_notifications.domain.correspondence import Correspondence
from dossierbus_notifications.domain.notification import (
    AWAITING_RECIPIENT,
    INTERRUPTED,
    INTERRUPTED_ERROR,
    PENDING,
    SENDING,
    Notification,
    addressed,
)
from dossierbus_notifications.domain.recipient import Recipient
from dossierbus_shared.db import after_commit
from dossierbus_shared.db.rows import given_rows
from dossierbus_shared.db.writes import pending_writes


class CorrespondenceRepository(Protocol):
    async def load(self, dossier_ids: Collection[UUID]) -> None:
        """Fetch the correspondence of these dossiers at once, for `get`."""
        ...

    def get(self, dossier_id: UUID) -> Correspondence:
        """A loaded dossier's correspondence."""
        ...

    async def save(self) -> None:
        """Keep the recipients learned and the notifications queued."""
        ...


class NotificationRepository(Protocol):
    async def claim_due(self, now: datetime, limit: int, claimed_until: datetime) -> list[Notification]:
        """Up to `limit` notifications due by `now`, oldest due first, left to this dispatcher until
        `claimed_until` (others skip them); their attempts still under way were interrupted."""
        ...

    async def get(self, notification_id: int) -> Notification | None:
        """One notification, locked until the transaction ends."""
        ...

    async def save(self, changed: Sequence[Notification]) -> set[int]:
        """Write these notifications and their attempts; the ids of those written (not the ones another
        dispatcher took meanwhile, see `Notification.version`)."""
        ...


class SqlCorrespondenceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._loaded: dict[UUID, Correspondence] = {}

    async def load(self, dossier_ids: Collection[UUID]) -> None:
        wanted = sorted(set(dossier_ids) - set(self._loaded))
        if not wanted:
            return
        batch = (
            func.unnest(bindparam("ids", wanted, type_=ARRAY(Uuid)))
            .table_valued("dossier_id")
            .render_derived(name="batch")
        )
        awaiting = exists().where(
            notifications.c.dossier_id == batch.c.dossier_id, notifications.c.status == AWAITING_RECIPIENT
        )
        query = select(
            batch.c.dossier_id.label("wanted"), recipients, awaiting.label("awaiting")
        ).select_from(batch.outerjoin(recipients, recipients.c.dossier_id == batch.c.dossier_id))
        for row in await self.session.execute(query):
            recipient = None if row.dossier_id is None else _recipient(row)
            self._loaded[row.wanted] = Correspondence(row.wanted, recipient, awaiting=row.awaiting)

    def get(self, dossier_id: UUID) -> Correspondence:
        return self._loaded[dossier_id]

    async def save(self) -> None:
        learned = [c.learned for c in self._loaded.values() if c.learned is not None]
        if learned:
            pending_writes(self.session).insert_new(
                recipients,
                [
                    {
                        "dossier_id": r.dossier_id,
                        "dossier_code": r.dossier_code,
                        "applicant_personal_id": r.applicant_personal_id,
                        "email": r.email,
                        "phone": r.phone,
                        "language": r.language,
                        "procedure_code": r.procedure_code,
                        "receiving_unit": r.receiving_unit,
                    }
                    for r in learned
                ],
            )
        queued = [n for c in self._loaded.values() for n in c.queued]
        if queued:
            # The unique key (event, channel, recipient) makes an event redelivered past the inbox a no-op.
            pending_writes(self.session).insert_new(
                notifications,
                [
                    {
                        "event_id": n.event_id,
                        "event_type": n.event_type,
                        "dossier_id": n.dossier_id,
                        "dossier_code": n.dossier_code,
                        "channel": n.channel,
                        "recipient": n.recipient,
                        "subject": n.subject,
                        "body": n.body,
                        "status": n.status,
                        "last_error": n.last_error,
                    }
                    for n in queued
                ],
            )
        released = [c.recipient for c in self._loaded.values() if c.releases_awaiting and c.recipient]
        if released:
            await self.session.execute(
                notifications.update()
                .where(
                    notifications.c.dossier_id == bindparam("awaited"),
                    notifications.c.status == AWAITING_RECIPIENT,
                )
                .values(
                    recipient=bindparam("address"),
                    status=bindparam("new_status"),
                    last_error=bindparam("error"),
                ),
                [_release(recipient) for recipient in released],
            )


class SqlNotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim_due(self, now: datetime, limit: int, claimed_until: datetime) -> list[Notification]:
        due = (
            select(notifications.c.id)
            .where(notifications.c.status == PENDING, notifications.c.next_attempt_at <= now)
            .order_by(notifications.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claimed = await self.session.execute(
            notifications.update()
            .where(notifications.c.id.in_(due))
            .values(next_attempt_at=claimed_until)
            .returning(*notifications.c)
        )
        found = sorted((_notification(row) for row in claimed), key=lambda n: n.id or 0)
        if found:
            await self.session.execute(
                delivery_attempts.update()
                .where(
                    delivery_attempts.c.notification_id.in_([n.id for n in found]),
                    delivery_attempts.c.outcome == SENDING,
                )
                .values(outcome=INTERRUPTED, error=INTERRUPTED_ERROR)
            )
        return found

    async def get(self, notification_id: int) -> Notification | None:
        row = (
            await self.session.execute(
                select(notifications).where(notifications.c.id == notification_id).with_for_update()
            )
        ).first()
        return None if row is None else _notification(row)

    async def save(self, changed: Sequence[Notification]) -> set[int]:
        if not changed:
            return set()
        names = ("id", "version", *_SAVED)
        given = given_rows(notifications, names, _VERSION)
        written = await self.session.execute(
            notifications.update()
            .where(
                notifications.c.id == given.column("id"), notifications.c.attempts == given.column("version")
            )
            .values({name: given.column(name) for name in _SAVED})
            .returning(notifications.c.id),
            given.parameters([{name: getattr(n, name) for name in names} for n in changed]),
        )
        saved = set(written.scalars())
        logged = [n for n in changed if n.id in saved and n.attempt is not None]
        if logged:
            # An attempt is written (`sending`) before its message leaves: its outcome replaces that row.
            pending_writes(self.session).upsert(
                delivery_attempts,
                [
                    {
                        "notification_id": n.id,
                        "attempt": n.attempt.number,
                        "started_at": n.attempt.started_at,
                        "duration_ms": n.attempt.duration_ms,
                        "outcome": n.attempt.outcome,
                        "error": n.attempt.error,
                    }
                    for n in logged
                    if n.attempt is not None
                ],
                ["notification_id", "attempt"],
            )

        def written_as_read() -> None:
            for notification in changed:
                if notification.id in saved:
                    notification.version = notification.attempts

        after_commit(self.session, written_as_read)
        return saved


_SAVED = ("status", "attempts", "attempts_at_requeue", "next_attempt_at", "last_error", "delivered_at")
"""What delivering and re-queueing change in a notification."""
_VERSION = (("version", Integer()),)
"""The attempts a notification was read with: a row another dispatcher changed since is not written."""


def _release(recipient: Recipient) -> dict[str, Any]:
    """The parameters that address a dossier's notifications awaiting this recipient."""
    status, error = addressed(recipient.email, "email")
    return {
        "awaited": recipient.dossier_id,
        "address": recipient.email or "",
        "new_status": status,
        "error": error,
    }


def _recipient(row: Any) -> Recipient:
    return Recipient(
        dossier_id=row.dossier_id,
        dossier_code=row.dossier_code,
        applicant_personal_id=row.applicant_personal_id,
        email=row.email,
        phone=row.phone,
        language=row.language,
        procedure_code=row.procedure_code,
        receiving_unit=row.receiving_unit,
    )


def _notification(row: Any) -> Notification:
    return Notification(
        event_id=row.event_id,
        event_type=row.event_type,
        dossier_id=row.dossier_id,
        dossier_code=row.dossier_code,
        channel=row.channel,
        recipient=row.recipient,
        subject=row.subject,
        body=row.body,
        status=row.status,
        last_error=row.last_error,
        id=row.id,
        attempts=row.attempts,
        attempts_at_requeue=row.attempts_at_requeue,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        version=row.attempts,
    )
