"""Kafka records as a consumer receives them, for tests that hand records to a consumer without a broker."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.structs import ConsumerRecord


def consumer_record(
    topic: str,
    value: bytes | None,
    *,
    key: bytes | None = None,
    partition: int = 0,
    offset: int = 0,
    headers: Sequence[tuple[str, bytes | None]] = (),
) -> ConsumerRecord[bytes, bytes]:
    """A record as fetched; `value`, a key and header values may be None, as on the wire (the library's
    types say bytes)."""
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=-1 if key is None else len(key),
        serialized_value_size=-1 if value is None else len(value),
        headers=list(headers),
    )
    return record
