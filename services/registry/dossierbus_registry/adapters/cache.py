"""A read-through cache in front of any NationalDatabases: expiry, a size bound, invalidation.

Found records are kept for `ttl_s`. "Not found" is kept only for `negative_ttl_s`, 0 by default: a
"not found" rejects a dossier, and a record that has just appeared (a birth registered a minute ago,
a new enterprise) must be seen at once; a cached absence would reject a valid applicant until it
expired, and absences are rare enough in normal traffic that caching them saves little.
Outages (NationalDatabaseUnavailable) are never cached.

Concurrent misses for one key share one call to the database behind (no stampede on a cold key).
Changes to the reference database invalidate their key through `invalidate` (see `changes.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Literal

from dossierbus_registry.adapters.population import NationalDatabases
from dossierbus_registry.domain import Citizen, Enterprise

Kind = Literal["citizen", "enterprise"]
Record = Citizen | Enterprise | None


class CachedNationalDatabases:
    def __init__(
        self,
        inner: NationalDatabases,
        *,
        ttl_s: float = 300.0,
        negative_ttl_s: float = 0.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.ttl_s = ttl_s
        self.negative_ttl_s = negative_ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[tuple[Kind, str], tuple[float, Record]] = OrderedDict()
        self._loading: dict[tuple[Kind, str], asyncio.Future[Record]] = {}
        self._generation = 0
        self.hits = 0
        self.misses = 0

    async def citizen(self, personal_id: str) -> Citizen | None:
        record = await self._get("citizen", personal_id, lambda: self.inner.citizen(personal_id))
        assert record is None or isinstance(record, Citizen)
        return record

    async def enterprise(self, tax_code: str) -> Enterprise | None:
        record = await self._get("enterprise", tax_code, lambda: self.inner.enterprise(tax_code))
        assert record is None or isinstance(record, Enterprise)
        return record

    def invalidate(self, kind: Kind, key: str) -> None:
        """Forget one record (it changed or was removed at the source)."""
        self._entries.pop((kind, key), None)
        # A load already under way may have read the old record: it must not be stored.
        if (kind, key) in self._loading:
            self._generation += 1

    def clear(self) -> None:
        """Forget everything (e.g. change notifications may have been missed)."""
        self._entries.clear()
        self._generation += 1

    def __len__(self) -> int:
        return len(self._entries)

    async def _get(self, kind: Kind, key: str, load: Callable[[], Awaitable[Record]]) -> Record:
        now = self.clock()
        entry = self._entries.get((kind, key))
        if entry is not None:
            expires_at, record = entry
            if now < expires_at:
                self._entries.move_to_end((kind, key))
                self.hits += 1
                return record
            del self._entries[(kind, key)]
        self.misses += 1
        loading = self._loading.get((kind, key))
        if loading is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
        self._loading[(kind, key)] = future
        generation = self._generation
        try:
            record = await load()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()  # marked retrieved: the waiters, if any, get it too
            raise
        finally:
            del self._loading[(kind, key)]
        future.set_result(record)
        if generation == self._generation:
            self._store(kind, key, record)
        return record

    def _store(self, kind: Kind, key: str, record: Record) -> None:
        ttl = self.ttl_s if record is not None else self.negative_ttl_s
        if ttl <= 0 or self.max_entries <= 0:
            return
        self._entries[(kind, key)] = (self.clock() + ttl, record)
        self._entries.move_to_end((kind, key))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
