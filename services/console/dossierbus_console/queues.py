"""What the broker holds: every topic with its offsets, and how far each consumer group lags behind."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
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
        # Committed offsets first, end offsets after: a group that commits meanwhile cannot then appear
        # to be past the end (and `figures` clamps what a broker reports anyway).
        groups = sorted(group for group, *_ in await admin.list_consumer_groups())
        # The broker lists a group's offsets only for the partitions asked about, so ask about all.
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            listed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            committed[group] = {tp: meta.offset for tp, meta in listed.items()}
        beginning = await offsets.beginning_offsets(partitions)
        end = await offsets.end_offsets(partitions)
    finally:
        await offsets.stop()
        await admin.close()
    return figures(partitions, beginning, end, committed)


def figures(
    partitions: Sequence[TopicPartition],
    beginning: Mapping[TopicPartition, int],
    end: Mapping[TopicPartition, int],
    committed: Mapping[str, Mapping[TopicPartition, int]],
) -> QueueSnapshot:
    """The snapshot from the broker's raw figures, read defensively: they come from separate requests
    (and a broker may answer inconsistently), so per partition a beginning above the end is taken as the
    end, a committed offset is kept between beginning and end, and -1 means "not committed"."""
    by_topic: dict[str, list[TopicPartition]] = defaultdict(list)
    for tp in partitions:
        if tp in end:
            by_topic[tp.topic].append(tp)
    snapshot = QueueSnapshot()
    for name, tps in sorted(by_topic.items()):
        ends = {tp: max(end[tp], 0) for tp in tps}
        starts = {tp: min(max(beginning.get(tp, 0), 0), ends[tp]) for tp in tps}
        snapshot.topics.append(
            TopicOffsets(
                name=name,
                partitions=len(tps),
                end_offset=sum(ends.values()),
                records=sum(ends[tp] - starts[tp] for tp in tps),
            )
        )
        for group, offsets_of_group in committed.items():
            positions = {tp: offsets_of_group[tp] for tp in tps if offsets_of_group.get(tp, -1) >= 0}
            if not positions:
                continue
            snapshot.lags.append(
                GroupLag(
                    group=group,
                    topic=name,
                    committed=sum(min(max(positions.get(tp, -1), starts[tp]), ends[tp]) for tp in tps),
                    end_offset=sum(ends.values()),
                )
            )
    return snapshot
