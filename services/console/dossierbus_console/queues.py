"""What the broker holds: every topic with its offsets, and how far each consumer group lags behind."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dossierbus_shared.kafka import DLQ_SUFFIX, PLAINTEXT, KafkaSecurity


@dataclass(frozen=True)
class TopicOffsets:
    name: str
    partitions: int
    end_offset: int
    """Sum of the partitions' end offsets: how many records were ever written."""
    records: int
    """Records still held (end minus beginning offsets)."""

    @property
    def is_dlq(self) -> bool:
        return self.name.endswith(DLQ_SUFFIX)


@dataclass(frozen=True)
class GroupLag:
    group: str
    topic: str
    committed: int
    end_offset: int

    @property
    def lag(self) -> int:
        return max(self.end_offset - self.committed, 0)


@dataclass
class QueueSnapshot:
    topics: list[TopicOffsets] = field(default_factory=list)
    lags: list[GroupLag] = field(default_factory=list)


async def queue_snapshot(
    bootstrap_servers: str, *, request_timeout_ms: int = 10_000, security: KafkaSecurity = PLAINTEXT
) -> QueueSnapshot:
    """One read of the broker: every topic's offsets and every consumer group's lag on what it follows.

    A group follows a topic when it has committed an offset on any of its partitions; on the partitions
    where it has not committed yet, everything still held counts as lag (groups start at the earliest).
    """
    options = {"request_timeout_ms": request_timeout_ms, **security.client_options()}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **options)
    offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, **options)
    try:
        await admin.start()
        await offsets.start()
        described = await admin.describe_topics()
        partitions = [
            TopicPartition(topic["topic"], part["partition"])
            for topic in described
            if not topic["is_internal"] and not topic["topic"].startswith("__")
            for part in topic["partitions"]
        ]
        if not partitions:
            return QueueSnapshot()
        beginning = await offsets.beginning_offsets(partitions)
        end = await offsets.end_offsets(partitions)
        # The broker lists a group's offsets only for the partitions asked about, so ask about all.
        groups = sorted(group for group, *_ in await admin.list_consumer_groups())
        committed = {
            group: await admin.list_consumer_group_offsets(group, partitions=partitions) for group in groups
        }
    finally:
        await offsets.stop()
        await admin.close()

    by_topic: dict[str, list[TopicPartition]] = defaultdict(list)
    for tp in partitions:
        by_topic[tp.topic].append(tp)
    snapshot = QueueSnapshot()
    for name, tps in sorted(by_topic.items()):
        snapshot.topics.append(
            TopicOffsets(
                name=name,
                partitions=len(tps),
                end_offset=sum(end[tp] for tp in tps),
                records=sum(end[tp] - beginning[tp] for tp in tps),
            )
        )
        for group in groups:
            positions = {tp: committed[group][tp].offset for tp in tps if tp in committed[group]}
            if not any(offset >= 0 for offset in positions.values()):
                continue
            snapshot.lags.append(
                GroupLag(
                    group=group,
                    topic=name,
                    committed=sum(max(positions.get(tp, -1), beginning[tp]) for tp in tps),
                    end_offset=sum(end[tp] for tp in tps),
                )
            )
    return snapshot
