"""Spans of records sent and processed, after the OpenTelemetry messaging semantic conventions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiokafka.structs import ConsumerRecord
from opentelemetry.context import Context
from opentelemetry.semconv._incubating.attributes import messaging_attributes as messaging
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from dossierbus_shared.envelope import header_map
from dossierbus_shared.telemetry.attributes import DOSSIER_CODE
from dossierbus_shared.telemetry.context import context_from
from dossierbus_shared.telemetry.provider import tracer


@contextmanager
def send_span(
    topic: str, *, key: str | None, message_id: str | None, dossier_code: str | None, parent: Context | None
) -> Iterator[Span]:
    """A PRODUCER span for one record sent to `topic`; inject `current_trace_headers()` inside it."""
    attributes: dict[str, AttributeValue] = {
        messaging.MESSAGING_SYSTEM: "kafka",
        messaging.MESSAGING_OPERATION_TYPE: messaging.MessagingOperationTypeValues.SEND.value,
        messaging.MESSAGING_OPERATION_NAME: "send",
        messaging.MESSAGING_DESTINATION_NAME: topic,
    }
    if key is not None:
        attributes[messaging.MESSAGING_KAFKA_MESSAGE_KEY] = key
    if message_id is not None:
        attributes[messaging.MESSAGING_MESSAGE_ID] = message_id
    if dossier_code:
        attributes[DOSSIER_CODE] = dossier_code
    with tracer("dossierbus.messaging").start_as_current_span(
        f"send {topic}", context=parent, kind=SpanKind.PRODUCER, attributes=attributes
    ) as span:
        yield span


def process_span(record: ConsumerRecord[bytes, bytes], consumer_group: str) -> Span:
    """A CONSUMER span for processing one record, continuing the trace in its headers; the caller ends it
    (a batch ends its records' spans once the batch has committed)."""
    headers = header_map(record.headers)
    attributes: dict[str, AttributeValue] = {
        messaging.MESSAGING_SYSTEM: "kafka",
        messaging.MESSAGING_OPERATION_TYPE: messaging.MessagingOperationTypeValues.PROCESS.value,
        messaging.MESSAGING_OPERATION_NAME: "process",
        messaging.MESSAGING_DESTINATION_NAME: record.topic,
        messaging.MESSAGING_DESTINATION_PARTITION_ID: str(record.partition),
        messaging.MESSAGING_CONSUMER_GROUP_NAME: consumer_group,
        messaging.MESSAGING_KAFKA_OFFSET: record.offset,
    }
    if record.key is not None:
        attributes[messaging.MESSAGING_KAFKA_MESSAGE_KEY] = record.key.decode("utf-8", "replace")
    if "ce_id" in headers:
        attributes[messaging.MESSAGING_MESSAGE_ID] = headers["ce_id"]
    if record.value is not None:
        attributes[messaging.MESSAGING_MESSAGE_BODY_SIZE] = len(record.value)
    return tracer("dossierbus.messaging").start_span(
        f"process {record.topic}",
        context=context_from(headers),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    )
