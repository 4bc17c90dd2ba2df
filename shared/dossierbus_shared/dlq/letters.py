from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka.structs import ConsumerRecord

from dossierbus_shared.envelope import Headers, header_map
from dossierbus_shared.kafka import DLQ_SUFFIX, Producer
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


def dead_letter_headers(
    record: ConsumerRecord[bytes, bytes], *, reason: str, error_type: str, consumer_group: str, attempts: int
) -> list[tuple[str, bytes]]:
    """The original headers, unchanged, followed by why and where the record failed."""
    original = [(name, value) for name, value in record.headers if not name.startswith(PREFIX)]
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
    return original + [(name, value.encode()) for name, value in failure.items()]


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
        headers = dead_letter_headers(
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
                record.topic + DLQ_SUFFIX, value=record.value, key=record.key, headers=headers
            )
        DEAD_LETTERS.labels(record.topic, error_type).inc()
