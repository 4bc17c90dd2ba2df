"""What the HTTP API shows, read straight from the tables (no aggregate is needed to read)."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_notifications.adapters.tables import delivery_attempts, notifications, recipients
from dossierbus_notifications.domain.notification import PENDING


async def applicant_of(session: AsyncSession, dossier_code: str) -> str | None:
    """The personal ID of the dossier's applicant, when known."""
    return await session.scalar(
        select(recipients.c.applicant_personal_id).where(recipients.c.dossier_code == dossier_code)
    )


async def notifications_of(session: AsyncSession, dossier_code: str) -> list[dict[str, Any]]:
    """Every notification of a dossier, oldest first, each with its delivery log."""
    query = select(notifications).where(notifications.c.dossier_code == dossier_code)
    return await _with_log(session, query, newest_first=False)


async def deliveries(
    session: AsyncSession, *, status: str | None, channel: str | None, limit: int
) -> list[dict[str, Any]]:
    """The latest notifications, of one status and channel if given."""
    query = select(notifications)
    if status is not None:
        query = query.where(notifications.c.status == status)
    if channel is not None:
        query = query.where(notifications.c.channel == channel)
    return await _with_log(session, query, newest_first=True, limit=limit)


def view(notification: Any, log: list[dict[str, Any]]) -> dict[str, Any]:
    """A notification (a row, or a `Notification`) as the API shows it."""
    return {
        "id": notification.id,
        "event_id": str(notification.event_id),
        "event_type": notification.event_type,
        "dossier_code": notification.dossier_code,
        "channel": notification.channel,
        "recipient": masked(notification.channel, notification.recipient),
        "subject": notification.subject,
        "status": notification.status,
        "attempts": notification.attempts,
        "last_error": notification.last_error,
        "created_at": notification.created_at.isoformat(),
        "next_attempt_at": notification.next_attempt_at.isoformat()
        if notification.status == PENDING
        else None,
        "delivered_at": notification.delivered_at.isoformat() if notification.delivered_at else None,
        "log": log,
    }


def masked(channel: str, recipient: str) -> str:
    """Enough of a citizen's address to tell deliveries apart, not to read it; agency codes in full."""
    if channel == "webhook" or not recipient:
        return recipient
    if channel == "email":
        name, _, domain = recipient.partition("@")
        return f"{name[:1]}***@{domain}"
    return f"***{recipient[-3:]}"


async def _with_log(
    session: AsyncSession, query: Select[Any], *, newest_first: bool, limit: int | None = None
) -> list[dict[str, Any]]:
    """The notifications `query` selects (the first `limit` in id order), each with its attempts, in one
    statement: one snapshot, so a notification's status and its log always agree, whatever the dispatcher
    commits meanwhile."""

    def by_id(table: Any) -> Any:
        return table.c.id.desc() if newest_first else table.c.id

    listed = query.order_by(by_id(notifications)).limit(limit).subquery()
    attempt_columns = [column.label(f"log_{column.name}") for column in delivery_attempts.c]
    joined = (
        select(listed, *attempt_columns)
        .outerjoin(delivery_attempts, delivery_attempts.c.notification_id == listed.c.id)
        .order_by(by_id(listed), delivery_attempts.c.attempt)
    )
    shown = []
    for _, group in groupby((await session.execute(joined)).all(), key=lambda row: row.id):
        rows = list(group)
        log = [
            {
                "attempt": row.log_attempt,
                "at": row.log_started_at.isoformat(),
                "duration_ms": row.log_duration_ms,
                "outcome": row.log_outcome,
                "error": row.log_error,
            }
            for row in rows
            if row.log_attempt is not None
        ]
        shown.append(view(rows[0], log))
    return shown
