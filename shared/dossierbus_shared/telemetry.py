"""OpenTelemetry set-up: one trace per dossier, carried through HTTP, Kafka headers and the outbox.

The SDK reads its own variables: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (resource),
OTEL_TRACES_SAMPLER[_ARG] (sampler), OTEL_EXPORTER_OTLP_* (the OTLP exporter), OTEL_BSP_* (batching),
OTEL_SDK_DISABLED, OTEL_PROPAGATORS. OTEL_TRACES_EXPORTER names the exporters by their entry points
(`otlp`, `console`, ...); unset, spans go to OTLP only when an OTLP endpoint is configured. `SPANS_FILE`
also writes spans as JSON lines, which the demo and the end-to-end tests read back.

Every exporter sees spans through `RedactingSpanExporter`, which exports an attribute only if its key is
in `EXPORTED_ATTRIBUTES`, and a personal field (`applicant.personal_id`, `tax_code`, ...) only as its keyed
pseudonym; every other attribute is dropped, whatever its value looks like (a pattern cannot tell every
phone number or ID from an ordinary number). Exceptions are exported by their type alone: their messages
and stack traces may quote the values a statement failed on. Span names and other status messages, free
text written by the code, are still pseudonymised by pattern.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from importlib.metadata import entry_points
from pathlib import Path

from aiokafka.structs import ConsumerRecord
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.semconv._incubating.attributes import messaging_attributes as messaging
from opentelemetry.trace import Span, SpanKind, Status
from opentelemetry.util.types import Attributes, AttributeValue

from dossierbus_shared.envelope import header_map
from dossierbus_shared.privacy import is_personal_field, pseudonym, redact_text

DOSSIER_CODE = "dossier.code"
DOSSIER_ID = "dossier.id"

EXPORTED_ATTRIBUTES = frozenset(
    {
        DOSSIER_CODE,
        DOSSIER_ID,
        # messaging (send_span, process_span)
        messaging.MESSAGING_SYSTEM,
        messaging.MESSAGING_OPERATION_TYPE,
        messaging.MESSAGING_OPERATION_NAME,
        messaging.MESSAGING_DESTINATION_NAME,
        messaging.MESSAGING_DESTINATION_PARTITION_ID,
        messaging.MESSAGING_CONSUMER_GROUP_NAME,
        messaging.MESSAGING_KAFKA_OFFSET,
        messaging.MESSAGING_KAFKA_MESSAGE_KEY,  # the dossier id
        messaging.MESSAGING_MESSAGE_ID,
        messaging.MESSAGING_MESSAGE_BODY_SIZE,
        # HTTP server spans: the route template, never the path or query (they may hold personal IDs),
        # the client's address or its user agent
        "http.method",
        "http.request.method",
        "http.route",
        "http.status_code",
        "http.response.status_code",
        "http.scheme",
        "url.scheme",
        "http.flavor",
        "network.protocol.version",
        "net.host.port",
        "server.port",
        # exceptions, by type only
        "exception.type",
        "exception.escaped",
        "error.type",
    }
)
"""The span and event attributes exported as they are; add a key here to export it."""

_dossier_code: ContextVar[str | None] = ContextVar("dossier_code", default=None)
_provider: TracerProvider | None = None


# --- set-up -------------------------------------------------------------------------------------------


def setup_telemetry(
    service_name: str, spans_file: str | None = None, *, exporters: Sequence[SpanExporter] = ()
) -> TracerProvider:
    """The process's tracer provider; `exporters` adds exporters of its own (tests)."""
    provider = TracerProvider(resource=service_resource(f"dossierbus-{service_name}"))
    for exporter in [*exporters_from_environment(), *exporters]:
        provider.add_span_processor(BatchSpanProcessor(RedactingSpanExporter(exporter)))
    if spans_file:
        provider.add_span_processor(
            BatchSpanProcessor(
                RedactingSpanExporter(JsonLinesSpanExporter(spans_file)), schedule_delay_millis=200
            )
        )
    global _provider
    if _provider is None:
        trace.set_tracer_provider(provider)  # the SDK allows it once per process
    _provider = provider
    return provider


def tracer(name: str) -> trace.Tracer:
    """A tracer of the provider set up last (the global one until then)."""
    return (_provider or trace.get_tracer_provider()).get_tracer(name)


def service_resource(default_name: str) -> Resource:
    """The SDK's resource from OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES; `default_name` when neither
    names the service."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: default_name}))
    return resource


def exporters_from_environment() -> list[SpanExporter]:
    """The exporters OTEL_TRACES_EXPORTER names, each constructed without arguments so that it reads its
    own OTEL_EXPORTER_* variables."""
    names = os.environ.get(OTEL_TRACES_EXPORTER, "").strip().lower()
    if not names:
        otlp_configured = os.environ.get(OTEL_EXPORTER_OTLP_ENDPOINT) or os.environ.get(
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
        )
        names = "otlp" if otlp_configured else "none"
    exporters: list[SpanExporter] = []
    for name in (part.strip() for part in names.split(",")):
        if name in ("", "none"):
            continue
        exporter_class = entry_points(group="opentelemetry_traces_exporter", name=_entry_point_name(name))
        if not exporter_class:
            raise RuntimeError(f"{OTEL_TRACES_EXPORTER}: no trace exporter named {name!r} is installed")
        exporters.append(next(iter(exporter_class)).load()())
    return exporters


def _entry_point_name(name: str) -> str:
    """`otlp` means OTLP over HTTP/protobuf here (the gRPC exporter is not installed) unless
    OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL asks for grpc."""
    if name != "otlp":
        return name
    protocol = os.environ.get(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) or os.environ.get(
        OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf"
    )
    return "otlp_proto_grpc" if protocol.strip() == "grpc" else "otlp_proto_http"


# --- exporters ----------------------------------------------------------------------------------------


class RedactingSpanExporter(SpanExporter):
    """Hands `inner` copies of the spans with personal data replaced by pseudonyms."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([redacted_span(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def redacted_span(span: ReadableSpan) -> ReadableSpan:
    status = span.status
    if status.description:
        status = Status(status.status_code, redacted_status(status.description))
    return ReadableSpan(
        name=redact_text(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=redacted_attributes(span.attributes),
        events=[
            Event(event.name, redacted_attributes(event.attributes), event.timestamp) for event in span.events
        ],
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def redacted_attributes(attributes: Attributes) -> dict[str, AttributeValue]:
    """The allowed attributes as they are, personal fields as pseudonyms, nothing else."""
    exported: dict[str, AttributeValue] = {}
    for name, value in (attributes or {}).items():
        if name in EXPORTED_ATTRIBUTES:
            exported[name] = value
        elif is_personal_field(name):
            exported[name] = pseudonym(str(value))
    return exported


_EXCEPTION_STATUS = re.compile(r"^(?P<type>[A-Za-z_][\w.]*): ")


def redacted_status(description: str) -> str:
    """An exception's status (`ValueError: <message>`, as the SDK sets it) as its type alone; any other
    status message pseudonymised by pattern."""
    if match := _EXCEPTION_STATUS.match(description):
        return match["type"]
    return redact_text(description)


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span as one JSON object per line; safe for several processes (O_APPEND)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(span), ensure_ascii=False) + "\n" for span in spans)
        with self._lock, self.path.open("a", encoding="utf-8") as file:
            file.write(lines)
        return SpanExportResult.SUCCESS


def span_record(span: ReadableSpan) -> dict[str, object]:
    context = span.get_span_context()
    return {
        "service": span.resource.attributes.get("service.name"),
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": format(context.trace_id, "032x") if context else None,
        "span_id": format(context.span_id, "016x") if context else None,
        "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "attributes": {name: _jsonable(value) for name, value in (span.attributes or {}).items()},
        "events": [
            {"name": event.name, "attributes": {k: _jsonable(v) for k, v in (event.attributes or {}).items()}}
            for event in span.events
        ],
        "status": span.status.status_code.name,
        "status_message": span.status.description,
    }


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    return value


# --- context ------------------------------------------------------------------------------------------


def current_trace_headers() -> dict[str, str]:
    """The W3C trace context of the active span, to store beside an outbox row."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from(headers: Mapping[str, str]) -> Context:
    return propagate.extract(dict(headers))


@contextmanager
def continued_trace(name: str, trace_context: Mapping[str, str] | None) -> Iterator[Span]:
    """A span in the trace `trace_context` was stored from (a dossier's), linked to the active span (the
    request that continues it); without a stored context, a child of the active span."""
    active = trace.get_current_span().get_span_context()
    parent = context_from(trace_context) if trace_context else None
    links = [trace.Link(active)] if parent is not None and active.is_valid else []
    with tracer("dossierbus").start_as_current_span(name, context=parent, links=links) as span:
        yield span


def mark_dossier(dossier_code: str, dossier_id: str | None = None) -> None:
    """Tag the active span, and the log lines that follow in this task, with the dossier (never with
    personal data)."""
    span = trace.get_current_span()
    span.set_attribute(DOSSIER_CODE, dossier_code)
    if dossier_id:
        span.set_attribute(DOSSIER_ID, dossier_id)
    _dossier_code.set(dossier_code)


def current_dossier_code() -> str | None:
    return _dossier_code.get()


@contextmanager
def dossier_scope() -> Iterator[None]:
    """Forget the dossier marked inside this block when it ends (a consumer task handles many)."""
    token = _dossier_code.set(None)
    try:
        yield
    finally:
        _dossier_code.reset(token)


# --- messaging spans (OpenTelemetry messaging semantic conventions) -----------------------------------


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
