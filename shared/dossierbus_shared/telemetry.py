"""OpenTelemetry set-up: one trace per dossier, carried through HTTP, Kafka headers and the outbox.

Exporters come from the standard OTEL_* variables (OTLP when OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_TRACES_EXPORTER=otlp is set); `SPANS_FILE` also writes spans as JSON lines, which the demo
and the end-to-end tests read back.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

DOSSIER_CODE = "dossier.code"
DOSSIER_ID = "dossier.id"


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
        "status": span.status.status_code.name,
    }


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value


def setup_telemetry(service_name: str, spans_file: str | None = None) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": f"dossierbus-{service_name}"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_TRACES_EXPORTER") == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if spans_file:
        provider.add_span_processor(
            BatchSpanProcessor(JsonLinesSpanExporter(spans_file), schedule_delay_millis=200)
        )
    trace.set_tracer_provider(provider)
    return provider


def current_trace_headers() -> dict[str, str]:
    """The W3C trace context of the active span, to store beside an outbox row."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from(headers: Mapping[str, str]) -> Context:
    return propagate.extract(dict(headers))


def mark_dossier(dossier_code: str, dossier_id: str | None = None) -> None:
    """Tag the active span with the dossier (never with personal data)."""
    span = trace.get_current_span()
    span.set_attribute(DOSSIER_CODE, dossier_code)
    if dossier_id:
        span.set_attribute(DOSSIER_ID, dossier_id)
