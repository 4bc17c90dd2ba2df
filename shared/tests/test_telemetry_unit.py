"""Spans and log lines, captured in memory: messaging semantic conventions, the trace carried from the
record's headers, JSON log lines with trace ids, and no personal identifier anywhere."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from dossierbus_devstack.records import consumer_record
from dossierbus_shared.consumer import EventConsumer
from dossierbus_shared.db import Database
from dossierbus_shared.dlq import DeadLetterPublisher
from dossierbus_shared.kafka import Producer
from dossierbus_shared.logs import configure_logging
from dossierbus_shared.metrics import DEAD_LETTERS, EVENTS_CONSUMED
from dossierbus_shared.privacy import pseudonym
from dossierbus_shared.telemetry import (
    dossier_scope,
    exporters_from_environment,
    mark_dossier,
    service_resource,
    setup_telemetry,
    span_record,
)

PERSONAL_ID = "001090000001"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def provider_and_spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    return setup_telemetry("unit", exporters=[spans]), spans


@pytest.fixture
def exported(provider_and_spans: tuple[TracerProvider, InMemorySpanExporter]) -> Iterator[ExportedSpans]:
    provider, spans = provider_and_spans
    spans.clear()
    yield ExportedSpans(provider, spans)


class ExportedSpans:
    def __init__(self, provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
        self.provider = provider
        self.exporter = exporter

    def __call__(self) -> list[ReadableSpan]:
        self.provider.force_flush()
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> ReadableSpan:
        return next(span for span in self() if span.name == name)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    handler = configure_logging("unit", log_format="json", level="INFO")
    stream = io.StringIO()
    handler.setStream(stream)
    yield stream
    logging.getLogger().removeHandler(handler)


class RecordingClient:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, **record: Any) -> None:
        self.sent.append({"topic": topic, **record})


class RecordingProducer:
    def __init__(self) -> None:
        self.client = RecordingClient()


def record(headers: dict[str, str], value: bytes, key: bytes) -> ConsumerRecord[bytes, bytes]:
    encoded = [(name, text.encode()) for name, text in headers.items()]
    return consumer_record("dossier.submitted", value, key=key, partition=2, offset=41, headers=encoded)


async def test_a_consumed_record_is_processed_in_its_trace_with_messaging_attributes(
    exported: ExportedSpans, log_lines: io.StringIO
) -> None:
    producer = RecordingProducer()
    consumer = EventConsumer(
        cast(Database, None), DeadLetterPublisher(cast(Producer, producer), "dossierbus.unit")
    )
    event_id, dossier_id = str(uuid.uuid4()), str(uuid.uuid4())
    unknown_type = f"vn.gov.dossierbus.citizen.{PERSONAL_ID}.v1"  # personal data where none belongs
    headers = {
        "ce_specversion": "1.0",
        "ce_id": event_id,
        "ce_source": "urn:unit",
        "ce_type": unknown_type,
        "traceparent": f"00-{TRACE_ID}-{PARENT_SPAN}-01",
    }
    dead_before = DEAD_LETTERS.labels("dossier.submitted", "MalformedEvent")._value.get()
    consumed_before = EVENTS_CONSUMED.labels("dossier.submitted", "unknown", "dead_lettered")._value.get()

    await consumer.process(record(headers, b'{"personal_id": "001090000001"}', dossier_id.encode()))

    process = exported.named("process dossier.submitted")
    assert process.kind is SpanKind.CONSUMER
    assert format(process.context.trace_id, "032x") == TRACE_ID
    assert process.parent is not None and format(process.parent.span_id, "016x") == PARENT_SPAN
    assert (
        dict(process.attributes or {}).items()
        >= {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": "dossier.submitted",
            "messaging.destination.partition.id": "2",
            "messaging.consumer.group.name": "dossierbus.unit",
            "messaging.message.id": event_id,
            "messaging.kafka.message.key": dossier_id,
            "messaging.kafka.offset": 41,
        }.items()
    )
    assert process.status.status_code.name == "ERROR"

    send = exported.named("send dossier.submitted.dlq")
    assert send.kind is SpanKind.PRODUCER
    assert send.parent is not None and send.parent.span_id == process.context.span_id
    assert (
        dict(send.attributes or {}).items()
        >= {
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": "dossier.submitted.dlq",
            "messaging.message.id": event_id,
            "messaging.kafka.message.key": dossier_id,
        }.items()
    )
    assert [letter["topic"] for letter in producer.client.sent] == ["dossier.submitted.dlq"]
    assert DEAD_LETTERS.labels("dossier.submitted", "MalformedEvent")._value.get() == dead_before + 1
    assert (
        EVENTS_CONSUMED.labels("dossier.submitted", "unknown", "dead_lettered")._value.get()
        == consumed_before + 1
    )

    exported_text = json.dumps([span_record(span) for span in exported()])
    assert PERSONAL_ID not in exported_text
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    dead_lettering = next(line for line in lines if line["message"].startswith("dead-lettering"))
    assert dead_lettering["trace_id"] == TRACE_ID
    assert dead_lettering["span_id"] == format(process.context.span_id, "016x")
    assert pseudonym(PERSONAL_ID) in dead_lettering["message"]
    assert PERSONAL_ID not in log_lines.getvalue()


def test_personal_data_never_leaves_the_process_in_a_span(exported: ExportedSpans) -> None:
    tracer = trace.get_tracer("unit", tracer_provider=exported.provider)
    with tracer.start_as_current_span("GET /access-log/{personal_id}") as span:
        span.set_attribute("url.path", f"/access-log/{PERSONAL_ID}")
        span.set_attribute("http.route", "/access-log/{subject}")
        span.set_attribute("applicant.personal_id", PERSONAL_ID)
        span.set_attribute("tax_code", "0101234567")
        span.set_attribute("dossier.code", "000.00.01.H26-261125-0001")
        span.record_exception(ValueError(f"citizen {PERSONAL_ID} has no consent"))
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"lookup of {PERSONAL_ID} refused"))

    [exported_span] = exported()
    text = json.dumps(span_record(exported_span))
    assert PERSONAL_ID not in text and "0101234567" not in text
    attributes = exported_span.attributes or {}
    assert "url.path" not in attributes  # not on the allowlist: the route template says where
    assert attributes["http.route"] == "/access-log/{subject}"
    assert attributes["applicant.personal_id"] == pseudonym(PERSONAL_ID)
    assert attributes["dossier.code"] == "000.00.01.H26-261125-0001"
    assert pseudonym(PERSONAL_ID) in (exported_span.status.description or "")
    [exception] = exported_span.events
    assert dict(exception.attributes or {}) == {"exception.type": "ValueError", "exception.escaped": "False"}


def test_log_lines_are_json_with_trace_and_dossier(exported: ExportedSpans, log_lines: io.StringIO) -> None:
    log = logging.getLogger("dossierbus_unit.handler")
    tracer = trace.get_tracer("unit", tracer_provider=exported.provider)
    with dossier_scope(), tracer.start_as_current_span("work") as span:
        mark_dossier("000.00.01.H26-261125-0007")
        log.info("looked up %s", PERSONAL_ID, extra={"attempt": 2})
        try:
            raise LookupError(f"no citizen {PERSONAL_ID}")
        except LookupError:
            log.exception("lookup failed")
    log.warning("outside any dossier")
    logging.getLogger("uvicorn.error").info("uvicorn speaks through the same handler")

    text = log_lines.getvalue()
    assert PERSONAL_ID not in text
    first, failed, outside, uvicorn = [json.loads(line) for line in text.splitlines()]
    assert set(first) >= {"timestamp", "level", "logger", "message", "service", "trace_id", "span_id"}
    assert first["level"] == "INFO" and first["logger"] == "dossierbus_unit.handler"
    assert first["message"] == f"looked up {pseudonym(PERSONAL_ID)}"
    assert first["service"] == "unit" and first["attempt"] == 2
    assert first["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert first["span_id"] == format(span.get_span_context().span_id, "016x")
    assert first["dossier_code"] == "000.00.01.H26-261125-0007"
    assert first["timestamp"].endswith("+00:00")
    assert failed["level"] == "ERROR" and "LookupError" in failed["exc_info"]
    assert pseudonym(PERSONAL_ID) in failed["exc_info"]
    assert "trace_id" not in outside and "dossier_code" not in outside
    assert uvicorn["logger"] == "uvicorn.error" and uvicorn["service"] == "unit"


def test_the_service_name_comes_from_otel_service_name_or_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging")
    default = service_resource("dossierbus-intake").attributes
    assert default["service.name"] == "dossierbus-intake"
    assert default["deployment.environment.name"] == "staging"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "intake-hanoi")
    assert service_resource("dossierbus-intake").attributes["service.name"] == "intake-hanoi"


def test_exporters_follow_otel_traces_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert exporters_from_environment() == []
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    [otlp] = exporters_from_environment()
    assert type(otlp).__module__.startswith("opentelemetry.exporter.otlp.proto.http")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert [type(e) for e in exporters_from_environment()] == [ConsoleSpanExporter]
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert exporters_from_environment() == []
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin-not-installed")
    with pytest.raises(RuntimeError, match="zipkin-not-installed"):
        exporters_from_environment()


def test_text_log_lines_for_a_terminal(exported: ExportedSpans) -> None:
    handler = configure_logging("unit", log_format="text", level="debug")
    stream = io.StringIO()
    handler.setStream(stream)
    try:
        tracer = trace.get_tracer("unit", tracer_provider=exported.provider)
        with tracer.start_as_current_span("work") as span:
            logging.getLogger("dossierbus_unit").debug("citizen %s", PERSONAL_ID)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.INFO)
    line = stream.getvalue()
    trace_id = format(span.get_span_context().trace_id, "032x")
    expected = f"DEBUG   dossierbus_unit [unit trace={trace_id} dossier=-] citizen {pseudonym(PERSONAL_ID)}"
    assert expected in line


def test_an_access_log_switched_off_stays_off() -> None:
    access = logging.getLogger("uvicorn.access")
    access.handlers, access.propagate = [], False  # what `uvicorn --no-access-log` leaves
    handler = configure_logging("unit")
    try:
        assert not access.hasHandlers()
        access.handlers = [logging.NullHandler()]  # an access log uvicorn switched on
        configure_logging("unit")
        assert access.handlers == [] and access.propagate
    finally:
        logging.getLogger().removeHandler(handler)
        for installed in [h for h in logging.getLogger().handlers if h.get_name() == "dossierbus"]:
            logging.getLogger().removeHandler(installed)
        access.propagate = True
