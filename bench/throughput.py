"""Pushes N dossiers through the whole bus and prints end-to-end throughput and submit-to-assigned
latency, next to the raw produce/consume rate of the same broker measured in the same run. PostgreSQL is
durable, as in production (each commit synced to disk before it is answered); the output says so.

    uv run python bench/throughput.py --dossiers 2000 --concurrency 64
    uv run python bench/throughput.py --replicas routing=2,notifications=2   # processes per service
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from dossierbus_devstack.cli import replicas_option
from dossierbus_devstack.database import DURABILITY_QUERY, describe_durability
from dossierbus_devstack.lifetime import run_until_signalled
from dossierbus_devstack.scenarios import birth_registration
from dossierbus_devstack.stack import DevStack


async def raw_broker_rate(bootstrap: str, messages: int) -> tuple[float, float]:
    """Batched produce and JSON-decoding consume of dossier-sized records: the ceiling the bus runs under."""
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
    await admin.close()
    payload = json.dumps(birth_registration(0), ensure_ascii=False).encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    deliveries = [await producer.send(topic, payload, key=str(i).encode()) for i in range(messages)]
    await asyncio.gather(*deliveries)
    produce_rate = messages / (time.perf_counter() - started)
    await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=20
    )
    await consumer.start()
    started, seen = time.perf_counter(), 0
    while seen < messages:
        for batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
            for record in batch:
                json.loads(record.value)
            seen += len(batch)
    consume_rate = messages / (time.perf_counter() - started)
    await consumer.stop()
    return produce_rate, consume_rate


async def run(dossiers: int, concurrency: int, replicas: dict[str, int]) -> None:
    async with (
        DevStack(replicas=replicas) as stack,
        httpx.AsyncClient(timeout=30, headers=stack.headers("portal")) as http,
    ):
        produce_rate, consume_rate = await raw_broker_rate(stack.kafka_bootstrap, 20_000)
        limit = asyncio.Semaphore(concurrency)

        async def submit(index: int) -> str:
            async with limit:
                response = await http.post(
                    stack.url("intake", "/dossiers"),
                    json=birth_registration(index),
                    headers={"Idempotency-Key": f"bench-{uuid.uuid4()}"},
                )
                response.raise_for_status()
                return str(response.json()["dossier_code"])

        started = time.perf_counter()
        codes = await asyncio.gather(*(submit(i) for i in range(dossiers)))
        submitted_in = time.perf_counter() - started
        async with stack.database() as db:
            durability = describe_durability(await db.fetchrow(DURABILITY_QUERY))
            while (
                await db.fetchval(
                    "SELECT count(*) FROM routing.dossiers WHERE code = ANY($1) AND status = 'returned'",
                    codes,
                )
                < dossiers
            ):
                await asyncio.sleep(0.05)
            finished_in = time.perf_counter() - started
            latencies = [
                row["seconds"]
                for row in await db.fetch(
                    """SELECT extract(epoch FROM t.at - d.submitted_at)::float8 AS seconds
                       FROM routing.dossiers d JOIN routing.timeline t ON t.dossier_id = d.id
                       WHERE d.code = ANY($1) AND t.event = 'assigned'""",
                    codes,
                )
            ]
    quantiles = statistics.quantiles(latencies, n=100)
    end_to_end = dossiers / finished_in
    print(f"dossiers                         {dossiers} (concurrency {concurrency})")
    counts = ", ".join(f"{name} {count}" for name, count in stack.replica_counts.items())
    print(f"replicas                         {counts}")
    print(f"PostgreSQL                       {durability}")
    print(f"submitted (HTTP 202)             {dossiers / submitted_in:8.1f} dossiers/s")
    print(f"end to end (submit -> returned)  {end_to_end:8.1f} dossiers/s")
    p50, p99 = quantiles[49] * 1000, quantiles[98] * 1000
    print(f"submit -> assigned latency       p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    print(f"raw broker produce (batched)     {produce_rate:8.0f} msg/s")
    print(f"raw broker consume (JSON decode) {consume_rate:8.0f} msg/s")
    print(f"end to end / raw consume         {end_to_end / consume_rate:8.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dossiers", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--replicas", type=replicas_option, default={}, metavar="SERVICE=N,...", help="processes per service"
    )
    args = parser.parse_args()
    if (stopped_by := run_until_signalled(run(args.dossiers, args.concurrency, args.replicas))) is not None:
        sys.exit(128 + stopped_by)


if __name__ == "__main__":
    main()
