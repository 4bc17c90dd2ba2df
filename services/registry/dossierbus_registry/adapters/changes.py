"""Invalidating the lookup cache when the reference national databases change: PostgreSQL triggers
NOTIFY on every update or delete of a citizen or enterprise (see the migration), and a listener
forgets the record. While not listening, nothing can be trusted: the cache is cleared on every
(re)connection."""

from __future__ import annotations

import asyncio

from dossierbus_registry.adapters.cache import CachedNationalDatabases
from dossierbus_shared.db import Database
from dossierbus_shared.db.listen import listen

CHANGES_CHANNEL = "national_records_changed"


class ChangeListener:
    def __init__(self, db: Database, cache: CachedNationalDatabases, reconnect_s: float = 1.0) -> None:
        self.db = db
        self.cache = cache
        self.reconnect_s = reconnect_s
        self.listening = asyncio.Event()
        self.notices = 0

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after a lost connection."""
        await listen(
            self.db, CHANGES_CHANNEL, self._notified, listening=self._listening, reconnect_s=self.reconnect_s
        )

    def _listening(self, listening: bool) -> None:
        # A change made while not listening goes unheard: nothing cached before can be trusted.
        self.cache.clear()
        if listening:
            self.listening.set()
        else:
            self.listening.clear()

    def _notified(self, payload: str) -> None:
        schema, _, change = payload.partition(":")
        if schema != self.db.schema:
            return
        self.notices += 1
        if change == "*":
            self.cache.clear()
            return
        kind, _, key = change.partition(":")
        if kind in ("citizen", "enterprise"):
            self.cache.invalidate(kind, key)  # type: ignore[arg-type]
