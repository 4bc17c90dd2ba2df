"""Delivering: a dispatcher sends due notifications through their channel, retrying with exponential
backoff and jitter; when a notification's tries run out it is marked dead and kept (the channel's dead
letter), until an operator re-queues it. Every attempt is written to the delivery log.

At most one message is in flight per dispatcher: each attempt is written (outcome `sending`) in a short
transaction of its own before its message is sent, and its outcome in another right after. A crash
therefore repeats at most the message that was in flight, with the same Message-ID; its attempt stays in
the log as `interrupted`. Notifications claimed but not yet tried are simply tried later."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping, Sequence
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
SENDING = "sending"  # an attempt under way
INTERRUPTED = "interrupted"  # an attempt whose dispatcher stopped before its outcome was written
CLAIM_S = 60.0
"""How long notifications claimed by a dispatcher are left to it: after a crash they are due again then."""


@dataclass(frozen=True)
class Attempt:
    changes: dict[str, object]
    logged: dict[str, object]


class Dispatcher:
    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        *,
        max_attempts: int,
        backoff_s: float,
        claim_s: float = CLAIM_S,
    ) -> None:
        self.db = db
        self.channels = dict(channels)
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.claim_s = claim_s

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
        """Claim up to `limit` due notifications and try each once, one after the other; returns how many
        were claimed."""
        for row in (claimed := await self._claim(limit)):
            await self._try(row)
        return len(claimed)

    async def _claim(self, limit: int) -> Sequence[Row[Any]]:
        async with self.db.transaction() as session:
            due = (
                select(notifications.c.id)
                .where(
                    notifications.c.status == "pending", notifications.c.next_attempt_at <= datetime.now(UTC)
                )
                .order_by(notifications.c.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            claimed = await session.execute(
                update(notifications)
                .where(notifications.c.id.in_(due))
                .values(next_attempt_at=self._claimed_until())
                .returning(*notifications.c)
            )
            return sorted(claimed.all(), key=lambda row: row.id)

    def _claimed_until(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.claim_s)

    async def _try(self, row: Row[Any]) -> None:
        """One attempt: written before the message is sent, its outcome written right after."""
        attempt = row.attempts + 1
        started_at = datetime.now(UTC)
        async with self.db.transaction() as session:
            begun = await session.execute(
                update(notifications)
                .where(
                    notifications.c.id == row.id,
                    notifications.c.status == "pending",
                    notifications.c.attempts == row.attempts,  # not taken by another dispatcher meanwhile
                )
                .values(attempts=attempt, next_attempt_at=self._claimed_until())
                .returning(notifications.c.id)
            )
            if begun.first() is None:
                return
            await session.execute(
                update(delivery_attempts)
                .where(delivery_attempts.c.notification_id == row.id, delivery_attempts.c.outcome == SENDING)
                .values(
                    outcome=INTERRUPTED,
                    error="the dispatcher stopped before this attempt's outcome was known",
                )
            )
            await session.execute(
                insert(delivery_attempts).values(
                    notification_id=row.id,
                    attempt=attempt,
                    started_at=started_at,
                    duration_ms=0,
                    outcome=SENDING,
                )
            )
        outcome = await self._attempt(row, attempt)
        async with self.db.transaction() as session:
            await session.execute(
                update(notifications).where(notifications.c.id == row.id).values(**outcome.changes)
            )
            await session.execute(
                update(delivery_attempts)
                .where(delivery_attempts.c.notification_id == row.id, delivery_attempts.c.attempt == attempt)
                .values(outcome.logged)
            )

    async def _attempt(self, row: Row[Any], attempts: int) -> Attempt:
        started = time.monotonic()
        error: str | None = None
        try:
            channel = self.channels.get(row.channel)
            if channel is None:
                raise RuntimeError(f"the {row.channel} channel is not configured")
            await channel.send(Outgoing(row.event_id, row.recipient, row.subject, row.body, attempts))
        except Exception as failure:
            error = str(failure) or type(failure).__name__  # a timeout has no message of its own
        logged: dict[str, object] = {
            "duration_ms": round((time.monotonic() - started) * 1000),
            "outcome": "failed" if error else "delivered",
            "error": error,
        }
        if error is None:
            changes: dict[str, object] = {
                "status": "delivered",
                "delivered_at": datetime.now(UTC),
                "last_error": None,
            }
        elif attempts - row.attempts_at_requeue >= self.max_attempts:
            log.error(
                "%s notification %s is dead after %s attempts: %s", row.channel, row.id, attempts, error
            )
            NOTIFICATION_FAILURES.labels(row.channel, "failed").inc()
            changes = {"status": DEAD, "last_error": error}
        else:
            NOTIFICATION_FAILURES.labels(row.channel, "retry").inc()
            tries = attempts - row.attempts_at_requeue
            delay = self.backoff_s * 2 ** (tries - 1) * random.uniform(0.5, 1.5)
            changes = {
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
