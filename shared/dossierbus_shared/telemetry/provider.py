"""The process's tracer provider and its exporters, as the OpenTelemetry SDK's own variables and
SPANS_FILE configure them; every exporter sees spans through the redaction."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.metadata import entry_points

from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from dossierbus_shared.telemetry.redaction import RedactingSpanExporter
from dossierbus_shared.telemetry.spans_file import JsonLinesSpanExporter

_provider: TracerProvider | None = None


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
    """A tracer of the provider set up last (the global one until then); made once per provider and name,
    as the SDK makes a new one at each call."""
    provider = _provider or trace.get_tracer_provider()
    made = _tracers.get(name)
    if made is None or made[0] is not provider:
        made = _tracers[name] = (provider, provider.get_tracer(name))
    return made[1]


_tracers: dict[str, tuple[trace.TracerProvider, trace.Tracer]] = {}


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
