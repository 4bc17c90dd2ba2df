"""A read-through cache in front of any NationalDatabases: expiry, a size bound, invalidation.

Found records are kept for `ttl_s`. "Not found" is kept only for `negative_ttl_s`, 0 by default: a
"not found" rejects a dossier, and a record that has just appeared (a birth registered a minute ago,
a new enterprise) must be seen at once; a cached absence would reject a valid applicant until it
expired, and absences are rare enough in normal traffic that caching them saves little.
Outages (NationalDatabaseUnavailable) are never cached.

Many records are looked up at once (a run of dossiers): the misses among them cost one call to the
database behind. Concurrent misses for one key share one call (no stampede on a cold key).
Changes to the reference database invalidate their key through `invalidate` (see `changes.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Literal

from dossierbus_registry.adapters.population import NationalDatabases
from dossierbus_registry.domain.national import Citizen, Enterprise

Kind = Literal["citizen", "enterprise"]
Record = Citizen | Enterprise | None
Loader = Callable[[list[str]], Awaitable[Mapping[str, Citizen] | Mapping[str, Enterprise]]]


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

    async def citizens(self, personal_ids: Sequence[str]) -> dict[str, Citizen]:
        found = await self._get("citizen", personal_ids, self.inner.citizens)
        return {key: record for key, record in found.items() if isinstance(record, Citizen)}

    async def enterprises(self, tax_codes: Sequence[str]) -> dict[str, Enterprise]:
        found = await self._get("enterprise", tax_codes, self.inner.enterprises)
        return {key: record for key, record in found.items() if isinstance(record, Enterprise)}

    async def citizen(self, personal_id: str) -> Citizen | None:
        return (await self.citizens([personal_id])).get(personal_id)

    async def enterprise(self, tax_code: str) -> Enterprise | None:
        return (await self.enterprises([tax_code])).get(tax_code)

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

    async def _get(self, kind: Kind, keys: Sequence[str], load: Loader) -> dict[str, Record]:
        """The records of `keys`: from cache, from a load under way, or else all the rest in one load."""
        now = self.clock()
        records: dict[str, Record] = {}
        under_way: dict[str, asyncio.Future[Record]] = {}
        missing: list[str] = []
        for key in dict.fromkeys(keys):
            entry = self._entries.get((kind, key))
            if entry is not None:
                expires_at, record = entry
                if now < expires_at:
                    self._entries.move_to_end((kind, key))
                    self.hits += 1
                    records[key] = record
                    continue
                del self._entries[(kind, key)]
            self.misses += 1
            loading = self._loading.get((kind, key))
            if loading is not None:
                under_way[key] = loading
            else:
                missing.append(key)
        if missing:
            records |= await self._load(kind, missing, load)
        for key, loading in under_way.items():
            records[key] = await asyncio.shield(loading)
        return records

    async def _load(self, kind: Kind, keys: list[str], load: Loader) -> dict[str, Record]:
        """Load `keys` in one call; lookups of the same keys meanwhile wait for it instead of asking again."""
        loop = asyncio.get_running_loop()
        futures: dict[str, asyncio.Future[Record]] = {key: loop.create_future() for key in keys}
        self._loading.update({(kind, key): future for key, future in futures.items()})
        generation = self._generation
        try:
            found = await load(keys)
        except asyncio.CancelledError:
            for future in futures.values():
                future.cancel()
            raise
        except Exception as error:
            for future in futures.values():
                future.set_exception(error)
                future.exception()  # marked retrieved: the waiters, if any, get it too
            raise
        finally:
            for key in keys:
                del self._loading[(kind, key)]
        records: dict[str, Record] = {key: found.get(key) for key in keys}
        for key, record in records.items():
            futures[key].set_result(record)
            if generation == self._generation:
                self._store(kind, key, record)
        return records

    def _store(self, kind: Kind, key: str, record: Record) -> None:
        ttl = self.ttl_s if record is not None else self.negative_ttl_s
        if ttl <= 0 or self.max_entries <= 0:
            return
        self._entries[(kind, key)] = (self.clock() + ttl, record)
        self._entries.move_to_end((kind, key))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
