"""Invalidating the lookup cache when the reference national databases change: PostgreSQL triggers
NOTIFY on every update or delete of a citizen or enterprise (see the migration), and a listener
forgets the record. While not listening, nothing can be trusted: the cache is cleared on every
(re)connection."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from dossierbus_registry.adapters.cache import CachedNationalDatabases
from dossierbus_shared.db import Database

CHANGES_CHANNEL = "national_records_changed"
log = logging.getLogger(__name__)


class ChangeListener:
    def __init__(self, db: Database, cache: CachedNationalDatabases, reconnect_s: float = 1.0) -> None:
        self.db = db
        self.cache = cache
        self.reconnect_s = reconnect_s
        self.listening = asyncio.Event()
        self.notices = 0

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after a lost connection."""
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("national record change listener lost its connection", exc_info=True)
            self.listening.clear()
            self.cache.clear()
            await asyncio.sleep(self.reconnect_s)

    async def _listen(self) -> None:
        async with self.db.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            pg: asyncpg.Connection = raw.driver_connection
            lost = asyncio.Event()
            pg.add_termination_listener(lambda _connection: lost.set())
            await pg.add_listener(CHANGES_CHANNEL, self._notified)
            try:
                self.cache.clear()
                self.listening.set()
                await lost.wait()
            finally:
                if not pg.is_closed():
                    await pg.remove_listener(CHANGES_CHANNEL, self._notified)

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
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
