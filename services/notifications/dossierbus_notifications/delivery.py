"""Delivering: a dispatcher claims a batch of due notifications and sends them through their channels
over pooled connections, in a few lanes at once; every attempt is written to the delivery log.

At most one message is in flight per lane: an attempt is written (outcome `sending`) before its message
is sent, in the same transaction as the outcome of the lane's previous message, and its own outcome in
the transaction that begins the lane's next one (or alone, after the lane's last). A crash therefore
repeats at most the message in flight in each lane, with the same Message-ID; its attempt stays in the log
as `interrupted`. Notifications claimed but not yet tried are simply tried later. The messages of one
dossier share a lane, so they leave in the order they were queued. The writes lanes ask for while another
lane's is under way go together in the next transaction (a group commit): lanes never wait for each
other's messages, and busy lanes share their commits."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from dossierbus_notifications.channels import Channel
from dossierbus_notifications.domain.notification import DEAD, Notification, RetryPolicy
from dossierbus_notifications.metrics import NOTIFICATION_FAILURES
from dossierbus_notifications.unit_of_work import UnitsOfWork
from dossierbus_shared.db import retry_dropped_connection

log = logging.getLogger(__name__)

CLAIM_S = 60.0
"""How long notifications claimed by a dispatcher are left to it: after a crash they are due again then."""
BATCH_SIZE = 50


class Dispatcher:
    def __init__(
        self,
        units: UnitsOfWork,
        channels: Mapping[str, Channel],
        policy: RetryPolicy,
        *,
        lanes: int = 1,
        claim_s: float = CLAIM_S,
    ) -> None:
        """`lanes`: how many messages are sent at once (each channel pools as many connections)."""
        self.units = units
        self.channels = dict(channels)
        self.policy = policy
        self.lanes = lanes
        self.claim_s = claim_s

    async def dispatch_forever(self, poll_interval_s: float) -> None:
        """Claim again at once after a full batch; after a smaller one (or none), wait `poll_interval_s`,
        so that a steady trickle goes in rounds of what was queued meanwhile, its writes sharing their
        transactions, rather than in a claim and two transactions per message."""
        while True:
            try:
                tried = await self.dispatch_due()
            except Exception as error:  # database away: try again later
                log.warning("notification dispatcher: %s", error)
                tried = 0
            if tried < BATCH_SIZE:
                await asyncio.sleep(poll_interval_s)

    async def dispatch_due(self, limit: int = BATCH_SIZE) -> int:
        """Claim up to `limit` due notifications and try each once; returns how many were claimed."""
        claimed = await self._claim(limit)
        lanes: list[list[Notification]] = [[] for _ in range(min(self.lanes, len(claimed)))]
        for notification in claimed:
            lanes[notification.dossier_id.int % len(lanes)].append(notification)
        writes = GroupCommit(self._write)
        async with asyncio.TaskGroup() as group:
            for lane in lanes:
                if lane:
                    group.create_task(self._send_in_turn(lane, writes))
        return len(claimed)

    async def _claim(self, limit: int) -> list[Notification]:
        async def claim() -> list[Notification]:
            async with self.units() as uow:
                return await uow.notifications.claim_due(datetime.now(UTC), limit, self._claimed_until())

        return await retry_dropped_connection(claim)

    def _claimed_until(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.claim_s)

    async def _send_in_turn(self, lane: Sequence[Notification], writes: GroupCommit) -> None:
        """Send the lane's messages one after the other, each attempt written before it is sent."""
        finished: list[Notification] = []
        for notification in lane:
            notification.begin_attempt(datetime.now(UTC), self._claimed_until())
            begun = notification.id in await writes.write([*finished, notification])
            finished = []
            if begun:  # else another dispatcher took it meanwhile
                await self._attempt(notification)
                finished = [notification]
        if finished:
            await writes.write(finished)

    async def _write(self, changed: Sequence[Notification]) -> set[int]:
        """One transaction: ended attempts' outcomes, next attempts' beginnings; the ids it wrote."""

        async def write() -> set[int]:
            async with self.units() as uow:
                return await uow.notifications.save(changed)

        return await retry_dropped_connection(write)

    async def _attempt(self, notification: Notification) -> None:
        """Send the message and decide, in memory, what its outcome makes of the notification."""
        started = time.monotonic()
        try:
            channel = self.channels.get(notification.channel)
            if channel is None:
                raise RuntimeError(f"the {notification.channel} channel is not configured")
            await channel.send(notification.outgoing())
            error = None
        except Exception as failure:
            error = str(failure) or type(failure).__name__  # a timeout has no message of its own
        duration_ms = round((time.monotonic() - started) * 1000)
        now = datetime.now(UTC)
        if error is None:
            notification.delivered(now, duration_ms)
            return
        notification.failed(error, now, duration_ms, self.policy, jitter=random.uniform(0.5, 1.5))
        if notification.status == DEAD:
            log.error(
                "%s notification %s is dead after %s attempts: %s",
                notification.channel,
                notification.id,
                notification.attempts,
                error,
            )
            NOTIFICATION_FAILURES.labels(notification.channel, "failed").inc()
        else:
            NOTIFICATION_FAILURES.labels(notification.channel, "retry").inc()


class GroupCommit:
    """Writes asked for while one is under way wait for it, then go together in one transaction."""

    def __init__(self, write: Callable[[Sequence[Notification]], Awaitable[set[int]]]) -> None:
        self._write = write
        self._lock = asyncio.Lock()
        self._waiting: list[tuple[Sequence[Notification], asyncio.Future[set[int]]]] = []

    async def write(self, changed: Sequence[Notification]) -> set[int]:
        """Write `changed`, alone or with others; the ids of every notification that transaction wrote."""
        mine: asyncio.Future[set[int]] = asyncio.get_running_loop().create_future()
        self._waiting.append((changed, mine))
        async with self._lock:
            if not mine.done():  # else an earlier holder of the lock wrote it with its own
                group, self._waiting = self._waiting, []
                try:
                    written = await self._write([n for changes, _ in group for n in changes])
                except Exception as error:
                    for _, future in group:
                        if future is not mine:
                            future.set_exception(error)
                            future.add_done_callback(_retrieved)  # its lane may be cancelled meanwhile
                    raise
                except BaseException:  # cancelled: so is the transaction of the others
                    for _, future in group:
                        future.cancel()
                    raise
                for _, future in group:
                    future.set_result(written)
        return await mine


def _retrieved(future: asyncio.Future[set[int]]) -> None:
    """Mark the error as seen: a lane cancelled before it awaited it does not leave it unretrieved."""
    if not future.cancelled():
        future.exception()


async def requeue(units: UnitsOfWork, notification_id: int) -> Notification | None:
    """Put a dead notification back in the queue with a fresh set of tries; None if there is no such
    notification, NotDead if it is not dead."""

    async def put_back() -> Notification | None:
        async with units() as uow:
            notification = await uow.notifications.get(notification_id)
            if notification is not None:
                notification.requeue(datetime.now(UTC))
                await uow.notifications.save([notification])
        return notification

    return await retry_dropped_connection(put_back)
