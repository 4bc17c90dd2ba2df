"""National-database lookups against the reference population database of 1,000,000 citizens: lookups/s
and p50/p99 latency, uncached (every lookup a PostgreSQL query) and cached (warm), in the same run.
Loads the citizens (and 100,000 enterprises) first when the schema holds fewer, printing the load rate.

    uv run python bench/lookups.py --citizens 1000000 --lookups 20000 --concurrency 16

With DATABASE_URL set it uses that server (and keeps the data for the next run, in schema
`registry_bench`); otherwise it starts a throw-away embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text

from dossierbus_devstack.database import DURABILITY_QUERY, EmbeddedPostgres, describe_durability
from dossierbus_devstack.lifetime import run_until_signalled
from dossierbus_registry.adapters.cache import CachedNationalDatabases
from dossierbus_registry.adapters.population import ReferenceNationalDatabases
from dossierbus_registry.domain import Citizen
from dossierbus_registry.seeding import seed
from dossierbus_shared.db import Database
from dossierbus_shared.db.migrate import upgrade_async

SCHEMA = "registry_bench"
MIGRATIONS = Path(__file__).parents[1] / "services" / "registry" / "dossierbus_registry" / "migrations"


@asynccontextmanager
async def postgres() -> AsyncIterator[str]:
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="dossierbus-bench-")) / "postgres")
    try:
        yield await server.start()
    finally:
        server.stop()


async def measure(
    label: str, lookup: Callable[[str], Awaitable[Citizen | None]], keys: list[str], concurrency: int
) -> None:
    latencies: list[float] = []
    queue = iter(keys)

    async def worker() -> None:
        for key in queue:
            started = time.perf_counter()
            await lookup(key)
            latencies.append(time.perf_counter() - started)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    cuts = statistics.quantiles(latencies, n=100)
    # CPU per lookup in this process: what the machine's load does not change.
    print(
        f"{label:<30} {len(keys) / elapsed:>9,.0f} lookups/s   p50 {cuts[49] * 1000:7.3f} ms"
        f"   p99 {cuts[98] * 1000:7.3f} ms   {cpu / len(keys) * 1e6:6.0f} µs CPU/lookup"
    )


async def run(citizens: int, enterprises: int, lookups: int, concurrency: int) -> None:
    async with postgres() as url:
        await upgrade_async(url, SCHEMA, MIGRATIONS)
        db = Database(url, SCHEMA, pool_size=concurrency)
        try:
            async with db.transaction() as session:
                present = int(await session.scalar(text("SELECT count(*) FROM citizens")) or 0)
            if present < citizens:
                print(f"loading the reference databases ({present} citizens present)")
                await seed(db, citizens, enterprises, report=lambda loaded: print(f"  {loaded}"))
            async with db.transaction() as session:
                await session.execute(text("ANALYZE citizens"))
                total = int(await session.scalar(text("SELECT count(*) FROM citizens")) or 0)
                known = list(
                    (
                        await session.scalars(
                            text("SELECT personal_id FROM citizens TABLESAMPLE SYSTEM (5) LIMIT :n"),
                            {"n": lookups},
                        )
                    ).all()
                )
            rng = random.Random(766)
            # One lookup in twenty asks for someone the database does not hold.
            keys = [
                rng.choice(known) if rng.random() >= 0.05 else f"0010859{rng.randrange(10**5):05d}"
                for _ in range(lookups)
            ]
            async with db.transaction() as session:
                durability = (await session.execute(text(DURABILITY_QUERY))).one()
            print(f"PostgreSQL: {describe_durability(durability)}")
            print(
                f"{total:,} citizens; {lookups:,} lookups ({len(set(keys)):,} distinct),"
                f" {concurrency} concurrent"
            )
            reference = ReferenceNationalDatabases(db)
            await measure("uncached, warming up", reference.citizen, keys[: lookups // 10], concurrency)
            await measure("uncached (PostgreSQL)", reference.citizen, keys, concurrency)
            cache = CachedNationalDatabases(reference, ttl_s=300, max_entries=lookups * 2)
            await measure("cached, cold (first pass)", cache.citizen, keys, concurrency)
            await measure("cached, warm", cache.citizen, keys, concurrency)
            # Absences are not cached (see docs): the unknown IDs above still went to PostgreSQL.
            held = set(known)
            known_keys = [key for key in keys if key in held]
            await measure("cached, warm, known IDs only", cache.citizen, known_keys, concurrency)
            print(f"cache: {len(cache):,} records, {cache.hits:,} hits, {cache.misses:,} misses")
        finally:
            await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--citizens", type=int, default=1_000_000)
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    stopped_by = run_until_signalled(run(args.citizens, args.enterprises, args.lookups, args.concurrency))
    if stopped_by is not None:
        sys.exit(128 + stopped_by)


if __name__ == "__main__":
    main()
