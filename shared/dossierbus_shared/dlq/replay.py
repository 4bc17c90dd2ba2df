"""Reading dead letters back and replaying them onto the topic they came from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

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


async def replay(
    bootstrap_servers: str,
    topic: str,
    *,
    event_ids: set[str] | None = None,
    dry_run: bool = False,
    security: KafkaSecurity = PLAINTEXT,
) -> list[DeadLetter]:
    """Republish dead letters (all not yet replayed, or only `event_ids`) to their original topics.

    The original key, value and headers go back unchanged, so consumers see the same event id: one that
    was processed meanwhile is skipped by their inbox. A full replay commits its progress under a replay
    group, so running it twice does not replay a letter twice; a replay of chosen events reads the whole
    topic and commits nothing, which would otherwise skip the letters passed over.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", **security.client_options())
    await producer.start()
    replayed: list[DeadLetter] = []
    try:
        group = None if event_ids is not None else f"dossierbus.dlq-replay.{topic}"
        async for letter, commit in read_dead_letters(
            bootstrap_servers, topic, group_id=group, security=security
        ):
            if event_ids is not None and letter.event_id not in event_ids:
                continue
            if not dry_run:
                origin = f"{topic}:{letter.partition}:{letter.offset}".encode()
                headers = [*letter.original_headers(), (REPLAYED_FROM, origin)]
                await producer.send_and_wait(
                    letter.original_topic, value=letter.value, key=letter.key, headers=headers
                )
                await commit()
            replayed.append(letter)
    finally:
        await producer.stop()
    return replayed


def describe(letter: DeadLetter) -> str:
    failure = letter.failure
    headers = header_map(letter.headers)
    return (
        f"{letter.topic}[{letter.partition}]@{letter.offset} event={headers.get('ce_id', '?')} "
        f"type={headers.get('ce_type', '?')} subject={headers.get('ce_subject', '?')} "
        f"from={failure.get('original_topic', '?')} by={failure.get('consumer_group', '?')} "
        f"attempts={failure.get('attempts', '?')} reason={failure.get('reason', '?')}"
    )
