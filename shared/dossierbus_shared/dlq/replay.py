"""Reading dead letters back and replaying them onto the topic they came from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from dossierbus_shared import record_batches
from dossierbus_shared.dlq.letters import DeadLetter
from dossierbus_shared.envelope import header_map
from dossierbus_shared.kafka import DLQ_SUFFIX, PLAINTEXT, KafkaSecurity

REPLAYED_FROM = "dlq_replayed_from"


def check_dlq_topic(topic: str) -> None:
    if not topic.endswith(DLQ_SUFFIX):
        raise ValueError(f"{topic!r} is not a dead-letter topic (they end in {DLQ_SUFFIX!r})")


Commit = Callable[[], Awaitable[None]]


async def read_dead_letters(
    bootstrap_servers: str,
    topic: str,
    *,
    group_id: str | None = None,
    security: KafkaSecurity = PLAINTEXT,
) -> AsyncIterator[tuple[DeadLetter, Commit]]:
    """Every dead letter now in `topic`, oldest first per partition, with a function that commits past it.

    Without a group every letter is read; with one, only those not yet committed by that group.
    """
    check_dlq_topic(topic)
    record_batches.install()  # a DLQ topic, too, may hold any bytes
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
        **security.client_options(),
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # a topic first seen by this client
            partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, partition) for partition in sorted(partitions)]
        if not assigned:
            raise ValueError(f"topic {topic!r} does not exist")
        consumer.assign(assigned)
        if group_id is None:
            await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        remaining = {tp for tp in assigned if await consumer.position(tp) < end[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= end[tp]:
                        remaining.discard(tp)
                        break
                    letter = DeadLetter(
                        record.topic,
                        record.partition,
                        record.offset,
                        record.key,
                        record.value,
                        list(record.headers),
                    )
                    yield letter, _committer(consumer, tp, record.offset + 1, group_id)
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()


def _committer(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, group_id: str | None) -> Commit:
    async def commit() -> None:
        if group_id is not None:
            await consumer.commit({tp: offset})

    return commit


@dataclass
class Replay:
    replayed: list[DeadLetter] = field(default_factory=list)
    by_reference: list[DeadLetter] = field(default_factory=list)
    """Letters without the original value (too large to copy): not replayed. See `fetch_original`."""


async def replay(
    bootstrap_servers: str,
    topic: str,
    *,
    event_ids: set[str] | None = None,
    dry_run: bool = False,
    security: KafkaSecurity = PLAINTEXT,
) -> Replay:
    """Republish dead letters (all not yet replayed, or only `event_ids`) to their original topics.

    The original key, value and headers go back unchanged, so consumers see the same event id: one that
    was processed meanwhile is skipped by their inbox. A full replay commits its progress under a replay
    group, so running it twice does not replay a letter twice; a replay of chosen events reads the whole
    topic and commits nothing, which would otherwise skip the letters passed over. A letter by reference
    is never replayed (it lacks the value): it is returned in `by_reference` for the operator to act on.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", **security.client_options())
    await producer.start()
    outcome = Replay()
    try:
        group = None if event_ids is not None else f"dossierbus.dlq-replay.{topic}"
        async for letter, commit in read_dead_letters(
            bootstrap_servers, topic, group_id=group, security=security
        ):
            if event_ids is not None and letter.event_id not in event_ids:
                continue
            if letter.by_reference:
                outcome.by_reference.append(letter)
                if not dry_run:
                    await commit()  # reported now; a later replay would fail on it just the same
                continue
            if not dry_run:
                origin = f"{topic}:{letter.partition}:{letter.offset}".encode()
                headers = [*letter.original_headers(), (REPLAYED_FROM, origin)]
                await producer.send_and_wait(
                    letter.original_topic, value=letter.value, key=letter.key, headers=headers
                )
                await commit()
            outcome.replayed.append(letter)
    finally:
        await producer.stop()
    return outcome


@dataclass(frozen=True)
class Original:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


async def fetch_original(
    bootstrap_servers: str,
    topic: str,
    partition: int,
    offset: int,
    *,
    security: KafkaSecurity = PLAINTEXT,
) -> Original:
    """The record at `offset` of a partition (e.g. the original of a letter by reference), read with no
    consumer group. Raises ValueError when the topic no longer holds it (retention)."""
    record_batches.install()  # the original may be the hostile record itself
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
        **security.client_options(),
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        start, end = (await consumer.beginning_offsets([tp]))[tp], (await consumer.end_offsets([tp]))[tp]
        if not start <= offset < end:
            raise ValueError(f"{topic}[{partition}] holds offsets {start} to {end - 1}, not {offset}")
        consumer.seek(tp, offset)
        while True:
            for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                if record.offset == offset:
                    return Original(record.key, record.value, list(record.headers))
                if record.offset > offset:
                    raise ValueError(f"{topic}[{partition}] no longer holds offset {offset} (compacted)")
    finally:
        await consumer.stop()


def describe(letter: DeadLetter) -> str:
    failure = letter.failure
    headers = header_map(letter.headers)
    if letter.by_reference:
        return (
            f"{letter.topic}[{letter.partition}]@{letter.offset} BY REFERENCE (value not copied: "
            f"{failure.get('value_size', '?')} bytes, sha256 {failure.get('value_sha256', '?')}) "
            f"original {failure.get('original_topic', '?')}[{failure.get('original_partition', '?')}]"
            f"@{failure.get('original_offset', '?')} event={headers.get('ce_id', '?')} "
            f"by={failure.get('consumer_group', '?')} reason={failure.get('reason', '?')}"
        )
    return (
        f"{letter.topic}[{letter.partition}]@{letter.offset} event={headers.get('ce_id', '?')} "
        f"type={headers.get('ce_type', '?')} subject={headers.get('ce_subject', '?')} "
        f"from={failure.get('original_topic', '?')} by={failure.get('consumer_group', '?')} "
        f"attempts={failure.get('attempts', '?')} reason={failure.get('reason', '?')}"
    )
