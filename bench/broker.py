"""What the broker can carry and what the bus put on it."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from dossierbus_devstack.broker import TansuBroker
from dossierbus_devstack.parts import free_port
from dossierbus_devstack.scenarios import birth_registration

RAW_TOPIC_PREFIX = "bench.raw."
CONSUME_PASSES = 3
"""Reads of the raw topic, the best of which is the consume rate: one read of a second or so varies by
15 % between runs on a 2-core machine, and this rate is the denominator of a ratio compared between runs."""


async def raw_broker_rate(bootstrap: str, messages: int) -> tuple[float, float]:
    """Batched produce and JSON-decoding consume of dossier-sized records: the ceiling the bus runs under."""
    topic = f"{RAW_TOPIC_PREFIX}{uuid.uuid4().hex[:8]}"
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

    consume_rate = max([await _consume_rate(bootstrap, topic, messages) for _ in range(CONSUME_PASSES)])
    return produce_rate, consume_rate


async def _consume_rate(bootstrap: str, topic: str, messages: int) -> float:
    """Records per second read from the start of `topic` and decoded as JSON, by a fresh consumer."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=20
    )
    await consumer.start()
    try:
        started, seen = time.perf_counter(), 0
        while seen < messages:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for record in batch:
                    json.loads(record.value)
                seen += len(batch)
        return messages / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def lone_broker_rate(messages: int) -> tuple[float, float]:
    """`raw_broker_rate` on a broker of its own with nothing else of the stack running: a ceiling that
    is the machine's and the broker's alone. Beside a running stack the raw rate also measures that
    stack's idle work (its consumers' fetches and heartbeats), which differs between the two sides of
    a comparison."""
    with tempfile.TemporaryDirectory() as scratch:
        broker = TansuBroker(free_port(), Path(scratch) / "tansu.log")
        await broker.start()
        try:
            return await raw_broker_rate(broker.bootstrap, messages)
        finally:
            broker.stop()


async def records_on_broker(bootstrap: str) -> int:
    """Records ever written to the broker's topics (their partitions' end offsets), the raw rate's and
    the broker's internal ones (`__consumer_offsets`) left out: the difference between two counts is
    what the bus produced in between."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ours = [topic for topic in await consumer.topics() if not topic.startswith((RAW_TOPIC_PREFIX, "__"))]
        partitions = [
            TopicPartition(topic, partition)
            for topic in ours
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        return sum((await consumer.end_offsets(partitions)).values()) if partitions else 0
    finally:
        await consumer.stop()
