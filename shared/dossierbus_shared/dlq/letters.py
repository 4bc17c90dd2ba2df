"""A dead letter is the failed record, unchanged, with `dlq_*` headers saying why and where it failed. A
record too large to copy within MAX_MESSAGE_BYTES is dead-lettered by reference instead: no value (and its
own headers and key only if they fit), but where it is (original topic, partition, offset) and its size and
SHA-256, so it can be fetched from the source topic and checked."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import ConsumerRecord

from dossierbus_shared.envelope import Headers, header_map
from dossierbus_shared.kafka import DLQ_SUFFIX, MAX_MESSAGE_BYTES, Producer
from dossierbus_shared.metrics import DEAD_LETTERS
from dossierbus_shared.telemetry import current_dossier_code, send_span

log = logging.getLogger(__name__)

PREFIX = "dlq_"
REASON = PREFIX + "reason"
ERROR_TYPE = PREFIX + "error_type"
ORIGINAL_TOPIC = PREFIX + "original_topic"
ORIGINAL_PARTITION = PREFIX + "original_partition"
ORIGINAL_OFFSET = PREFIX + "original_offset"
CONSUMER_GROUP = PREFIX + "consumer_group"
ATTEMPTS = PREFIX + "attempts"
FAILED_AT = PREFIX + "failed_at"
# Set on a dead letter by reference only:
BY_REFERENCE = PREFIX + "by_reference"  # "true": the value is not in the letter
VALUE_SIZE = PREFIX + "value_size"  # bytes of the original value
VALUE_SHA256 = PREFIX + "value_sha256"  # hex SHA-256 of the original value
OMITTED = PREFIX + "omitted"  # what else was left out: "headers", "key" (comma-separated)
# An original header whose name is not UTF-8 (no producer can send it again) is kept as
# `dlq_header_hex_<hex of the name's bytes>` with its value unchanged.
RAW_NAME = PREFIX + "header_hex_"


def dead_letter_headers(
    record: ConsumerRecord[bytes, bytes], *, reason: str, error_type: str, consumer_group: str, attempts: int
) -> list[tuple[str, bytes | None]]:
    """The original headers, unchanged, followed by why and where the record failed."""
    return _kept_headers(record.headers) + _failure_headers(
        record, reason=reason, error_type=error_type, consumer_group=consumer_group, attempts=attempts
    )


def _kept_headers(headers: Headers) -> list[tuple[str, bytes | None]]:
    """The original headers as a producer can send them: as they are, but a name that is not UTF-8 kept
    by its bytes in hex; `dlq_*` ones dropped, as the letter's own say where it failed."""
    kept: list[tuple[str, bytes | None]] = []
    for name, value in headers:
        raw = name.encode("utf-8", "surrogateescape")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            kept.append((RAW_NAME + raw.hex(), value))
            continue
        if not name.startswith(PREFIX):
            kept.append((name, value))
    return kept


def _failure_headers(
    record: ConsumerRecord[bytes, bytes], *, reason: str, error_type: str, consumer_group: str, attempts: int
) -> list[tuple[str, bytes | None]]:
    failure = {
        REASON: reason[:4000],
        ERROR_TYPE: error_type,
        ORIGINAL_TOPIC: record.topic,
        ORIGINAL_PARTITION: str(record.partition),
        ORIGINAL_OFFSET: str(record.offset),
        CONSUMER_GROUP: consumer_group,
        ATTEMPTS: str(attempts),
        FAILED_AT: datetime.now(UTC).isoformat(),
    }
    return [(name, value.encode("utf-8", "replace")) for name, value in failure.items()]


@dataclass(frozen=True)
class Letter:
    """What goes to the DLQ topic for one failed record."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]

    @property
    def size(self) -> int:
        """An upper bound of its size on the wire, as the producer and broker count it."""
        size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(self.key, self.value, self.headers)
        return size


def letter_for(
    record: ConsumerRecord[bytes, bytes],
    *,
    reason: str,
    error_type: str,
    consumer_group: str,
    attempts: int,
    limit: int = MAX_MESSAGE_BYTES,
) -> Letter:
    """A copy of the record with why it failed; by reference when the copy would exceed `limit`."""
    failure = _failure_headers(
        record, reason=reason, error_type=error_type, consumer_group=consumer_group, attempts=attempts
    )
    kept = _kept_headers(record.headers)
    copy = Letter(record.key, record.value, kept + failure)
    if copy.size <= limit:
        return copy
    value = record.value or b""
    reference = [
        *failure,
        (BY_REFERENCE, b"true"),
        (VALUE_SIZE, str(len(value)).encode()),
        (VALUE_SHA256, hashlib.sha256(value).hexdigest().encode()),
    ]
    for letter in (
        Letter(record.key, None, kept + reference),
        Letter(record.key, None, [*reference, (OMITTED, b"headers")]),
    ):
        if letter.size <= limit:
            return letter
    return Letter(None, None, [*reference, (OMITTED, b"headers,key")])


@dataclass(frozen=True)
class DeadLetter:
    """A record read back from a DLQ topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @property
    def failure(self) -> dict[str, str]:
        return {
            name.removeprefix(PREFIX): value
            for name, value in header_map(self.headers).items()
            if name.startswith(PREFIX)
        }

    @property
    def by_reference(self) -> bool:
        """Whether the letter lacks the original value (too large to copy): it cannot be replayed."""
        return self.failure.get("by_reference") == "true"

    @property
    def original_topic(self) -> str:
        return self.failure.get("original_topic") or self.topic.removesuffix(DLQ_SUFFIX)

    @property
    def event_id(self) -> str | None:
        return header_map(self.headers).get("ce_id")

    def original_headers(self) -> Headers:
        return [(name, value) for name, value in self.headers if not name.startswith(PREFIX)]


class DeadLetterPublisher:
    def __init__(self, producer: Producer, consumer_group: str) -> None:
        self.producer = producer
        self.consumer_group = consumer_group

    async def publish(
        self, record: ConsumerRecord[bytes, bytes], *, reason: str, error_type: str, attempts: int
    ) -> None:
        log.error(
            "dead-lettering %s[%s]@%s after %s attempt(s): %s",
            record.topic,
            record.partition,
            record.offset,
            attempts,
            reason,
        )
        letter = letter_for(
            record,
            reason=reason,
            error_type=error_type,
            consumer_group=self.consumer_group,
            attempts=attempts,
        )
        original = header_map(record.headers)
        with send_span(
            record.topic + DLQ_SUFFIX,
            key=record.key.decode("utf-8", "replace") if record.key is not None else None,
            message_id=original.get("ce_id"),
            dossier_code=current_dossier_code(),
            parent=None,
        ):
            # Awaited to the broker's acknowledgement: the offset is committed only after this returns.
            await self.producer.client.send_and_wait(
                record.topic + DLQ_SUFFIX, value=letter.value, key=letter.key, headers=letter.headers
            )
        DEAD_LETTERS.labels(record.topic, error_type).inc()
