"""Prometheus metrics of the portal sync: attempts counted by this replica as they end, and the table's
pending and failed changes sampled every METRICS_SAMPLE_INTERVAL_S (the same on every replica)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select

from dossierbus_routing.portal_sync.store import FAILED, PENDING, portal_sync
from dossierbus_shared.db import Database

ATTEMPTS = Counter(
    "dossierbus_portal_sync_attempts",
    "Changes sent to the national portal by this replica, by outcome: sent (taken), retry (no answer, 5xx, "
    "429, 401/403, or the request answered as a whole; due again later), refused (any other 4xx answered to "
    "the change; failed for good)",
    ["outcome"],
)
CHANGES = Gauge(
    "dossierbus_portal_sync_changes",
    "Status changes waiting for the national portal (pending) and refused by it (failed)",
    ["state"],
)
OLDEST_PENDING = Gauge(
    "dossierbus_portal_sync_oldest_pending_seconds",
    "Age of the oldest change not yet taken by the national portal (0 when none)",
)


class SyncSampler:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self) -> None:
        async with self.db.transaction() as session:
            pending, age = (
                await session.execute(
                    select(
                        func.count(),
                        func.coalesce(
                            func.extract("epoch", func.now() - func.min(portal_sync.c.changed_at)), 0
                        ),
                    ).where(portal_sync.c.state == PENDING)
                )
            ).one()
            failed = (
                await session.execute(select(func.count()).where(portal_sync.c.state == FAILED))
            ).scalar_one()
        CHANGES.labels(PENDING).set(pending)
        CHANGES.labels(FAILED).set(failed)
        OLDEST_PENDING.set(float(age))
