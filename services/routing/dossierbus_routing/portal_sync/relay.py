"""The relay: a background task of every routing replica that sends the staged changes to the portal.

Each round claims up to `batch_size` due changes in one transaction (FOR UPDATE SKIP LOCKED, so replicas
share the work and never send the same change at once), at most one per dossier (the earliest not yet
sent), sends them to the portal in one request, writes each change's outcome (the portal answers each on
its own) and commits. A dossier's next change becomes due only once the previous one is sent or refused:
the portal never gets a later status before an earlier one. A crash between the send and the commit
sends the changes again with the same idempotency keys, which the portal takes as repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from dossierbus_routing.portal_sync.client import Change, Portal
from dossierbus_routing.portal_sync.decisions import Answer, Refused, Retry, RetryPolicy, Sent, decide
from dossierbus_routing.portal_sync.metrics import ATTEMPTS
from dossierbus_routing.portal_sync.store import Claimed, Outcome, RelayTransaction

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class PortalSyncRelay:
    def __init__(
        self,
        transaction: RelayTransaction,
        portal: Portal,
        policy: RetryPolicy,
        *,
        batch_size: int = 50,
        poll_interval_s: float = 2.0,
        gather_s: float = 0.0,
        clock: Clock = utc_now,
    ) -> None:
        self.transaction = transaction
        self.portal = portal
        self.policy = policy
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.gather_s = gather_s
        self.clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Changes were committed in this process: look at once rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Send until cancelled: at once again after a full round, `gather_s` after one that sent some
        (the dossiers' next changes, and those committed meanwhile, then go together), else after a wake
        (then `gather_s` too) or a poll. So a steady flow of changes costs a request and a transaction per
        `gather_s`, not one per commit."""
        while True:
            self._wake.clear()  # the round sees every change committed before it
            try:
                while (tried := await self.relay_once()) >= self.batch_size:
                    pass
            except Exception as error:  # the database away: the changes stay, and are tried again
                log.warning("portal sync relay: %s; trying again in %gs", error, self.poll_interval_s)
                tried = 0
            if tried:
                await asyncio.sleep(self.gather_s)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
                await asyncio.sleep(self.gather_s)

    async def relay_once(self) -> int:
        """One round; returns how many changes it tried."""
        async with self.transaction() as store:
            claimed = await store.claim(self.batch_size, self.clock())
            if not claimed:
                return 0
            answers = await self.portal.send([Change(c.idempotency_key, c.payload) for c in claimed])
            now = self.clock()
            outcomes = [
                self._outcome(change, answer, now) for change, answer in zip(claimed, answers, strict=True)
            ]
            await store.record(outcomes, now)
        return len(claimed)

    def _outcome(self, change: Claimed, answer: Answer, now: datetime) -> Outcome:
        decision = decide(answer, change.attempts + 1, now, self.policy)
        if isinstance(decision, Sent):
            ATTEMPTS.labels("sent").inc()
        elif isinstance(decision, Retry):
            ATTEMPTS.labels("retry").inc()
            log.warning("portal sync of %s will be retried: %s", change.dossier_code, decision.error)
        elif isinstance(decision, Refused):
            ATTEMPTS.labels("refused").inc()
            log.error("the portal refused a change of %s: %s", change.dossier_code, decision.error)
        return Outcome(change, decision)
