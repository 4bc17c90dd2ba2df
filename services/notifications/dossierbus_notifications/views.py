"""What the HTTP API shows, read straight from the tables (no aggregate is needed to read)."""

from __future__ import annotations

from collections import defaultdict
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
    query = (
        select(notifications).where(notifications.c.dossier_code == dossier_code).order_by(notifications.c.id)
    )
    return await _with_log(session, query)


async def deliveries(
    session: AsyncSession, *, status: str | None, channel: str | None, limit: int
) -> list[dict[str, Any]]:
    """The latest notifications, of one status and channel if given."""
    query = select(notifications).order_by(notifications.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(notifications.c.status == status)
    if channel is not None:
        query = query.where(notifications.c.channel == channel)
    return await _with_log(session, query)


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


async def _with_log(session: AsyncSession, query: Select[Any]) -> list[dict[str, Any]]:
    rows = (await session.execute(query)).all()
    logs: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if rows:
        attempts = await session.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.notification_id.in_([row.id for row in rows]))
            .order_by(delivery_attempts.c.notification_id, delivery_attempts.c.attempt)
        )
        for attempt in attempts:
            logs[attempt.notification_id].append(
                {
                    "attempt": attempt.attempt,
                    "at": attempt.started_at.isoformat(),
                    "duration_ms": attempt.duration_ms,
                    "outcome": attempt.outcome,
                    "error": attempt.error,
                }
            )
    return [view(row, logs[row.id]) for row in rows]
