"""Consumer lag and DLQ size read from a real broker: the lag counts what the group has not committed, the
DLQ size what the dead-letter topic holds."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dossierbus_shared.kafka import ensure_topics, with_dlq
from dossierbus_shared.metrics import CONSUMER_LAG, DLQ_SIZE, KafkaSampler


def lag(group: str, topic: str) -> float:
    return sum(CONSUMER_LAG.labels(group, topic, str(partition))._value.get() for partition in range(2))


async def test_lag_follows_the_committed_offsets_and_dlq_size_the_dead_letters(kafka_bootstrap: str) -> None:
    topic, group = f"test.lag.{uuid.uuid4().hex[:8]}", f"test.group.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, with_dlq([topic]), partitions=2)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for index in range(5):
            await producer.send_and_wait(topic, value=b"{}", key=f"k{index}".encode())
        await producer.send_and_wait(topic + ".dlq", value=b"{}", key=b"dead")
    finally:
        await producer.stop()

    sampler = KafkaSampler(kafka_bootstrap, group, [], matching=r"test\.lag\.[0-9a-f]{8}")
    try:
        await sampler()
        assert lag(group, topic) == 5  # nothing committed yet: everything is lag
        assert DLQ_SIZE.labels(topic + ".dlq")._value.get() == 1

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            read = 0
            while read < 3:
                batch = await consumer.getmany(timeout_ms=1000, max_records=3 - read)
                for tp, records in batch.items():
                    read += len(records)
                    await consumer.commit({tp: records[-1].offset + 1})
        finally:
            await consumer.stop()

        await sampler()
        assert lag(group, topic) == 2
    finally:
        await sampler.close()
