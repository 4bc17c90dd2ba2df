"""Delivering: a dispatcher sends due notifications through their channel, retrying with exponential
backoff and jitter; when a notification's tries run out it is marked dead and kept (the channel's dead
letter), until an operator re-queues it. Every attempt is written to the delivery log."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.dialects.postgresql import insert

from dossierbus_notifications.adapters.tables import delivery_attempts, notifications
from dossierbus_notifications.channels import Channel, Outgoing
from dossierbus_notifications.metrics import NOTIFICATION_FAILURES
from dossierbus_shared.db import Database

log = logging.getLogger(__name__)

DEAD = "dead"


@dataclass(frozen=True)
class Attempt:
    changes: dict[str, object]
    logged: dict[str, object]


class Dispatcher:
    def __init__(
        self, db: Database, channels: Mapping[str, Channel], *, max_attempts: int, backoff_s: float
    ) -> None:
        self.db = db
        self.channels = dict(channels)
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s

    async def dispatch_forever(self, poll_interval_s: float) -> None:
        while True:
            try:
                tried = await self.dispatch_due()
            except Exception as error:  # database away: try again later
                log.warning("notification dispatcher: %s", error)
                tried = 0
            if not tried:
                await asyncio.sleep(poll_interval_s)

    async def dispatch_due(self, limit: int = 50) -> int:
        """Try every due notification once, concurrently; returns how many were tried."""
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
            attempts = await asyncio.gather(*(self._attempt(row) for row in due))
            for row, attempt in zip(due, attempts, strict=True):
                await session.execute(
                    update(notifications).where(notifications.c.id == row.id).values(**attempt.changes)
                )
                await session.execute(insert(delivery_attempts).values(attempt.logged))
        return len(due)

    async def _attempt(self, row: Row[Any]) -> Attempt:
        attempts = row.attempts + 1
        started_at = datetime.now(UTC)
        started = time.monotonic()
        error: str | None = None
        try:
            channel = self.channels.get(row.channel)
            if channel is None:
                raise RuntimeError(f"the {row.channel} channel is not configured")
            await channel.send(Outgoing(row.event_id, row.recipient, row.subject, row.body, attempts))
        except Exception as failure:
            error = str(failure) or type(failure).__name__  # a timeout has no message of its own
        logged = {
            "notification_id": row.id,
            "attempt": attempts,
            "started_at": started_at,
            "duration_ms": round((time.monotonic() - started) * 1000),
            "outcome": "failed" if error else "delivered",
            "error": error,
        }
        if error is None:
            changes: dict[str, object] = {
                "attempts": attempts,
                "status": "delivered",
                "delivered_at": datetime.now(UTC),
                "last_error": None,
            }
        elif attempts - row.attempts_at_requeue >= self.max_attempts:
            log.error(
                "%s notification %s is dead after %s attempts: %s", row.channel, row.id, attempts, error
            )
            NOTIFICATION_FAILURES.labels(row.channel, "failed").inc()
            changes = {"attempts": attempts, "status": DEAD, "last_error": error}
        else:
            NOTIFICATION_FAILURES.labels(row.channel, "retry").inc()
            tries = attempts - row.attempts_at_requeue
            delay = self.backoff_s * 2 ** (tries - 1) * random.uniform(0.5, 1.5)
            changes = {
                "attempts": attempts,
                "last_error": error,
                "next_attempt_at": datetime.now(UTC) + timedelta(seconds=delay),
            }
        return Attempt(changes, logged)


async def requeue(db: Database, notification_id: int) -> Row[Any] | None:
    """Put a dead notification back in the queue with a fresh set of tries; None if it is not dead."""
    async with db.transaction() as session:
        return (
            await session.execute(
                update(notifications)
                .where(notifications.c.id == notification_id, notifications.c.status == DEAD)
                .values(
                    status="pending",
                    attempts_at_requeue=notifications.c.attempts,
                    next_attempt_at=datetime.now(UTC),
                )
                .returning(*notifications.c)
            )
        ).first()
