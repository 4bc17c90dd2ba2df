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

`provider` sets up the tracer provider and its exporters, `attributes` is the allowlist, `redaction`
applies it, `spans_file` writes SPANS_FILE, `context` carries a dossier's trace and `messaging` makes the
spans of records sent and processed. Import the names from here.
"""

from dossierbus_shared.telemetry.attributes import DOSSIER_CODE, DOSSIER_ID, EXPORTED_ATTRIBUTES
from dossierbus_shared.telemetry.context import (
    context_from,
    continued_trace,
    current_dossier_code,
    current_trace_headers,
    dossier_scope,
    mark_dossier,
)
from dossierbus_shared.telemetry.messaging import process_span, send_span
from dossierbus_shared.telemetry.provider import (
    exporters_from_environment,
    service_resource,
    setup_telemetry,
    tracer,
)
from dossierbus_shared.telemetry.redaction import (
    RedactingSpanExporter,
    redacted_attributes,
    redacted_span,
    redacted_status,
)
from dossierbus_shared.telemetry.spans_file import JsonLinesSpanExporter, span_record

__all__ = [
    "DOSSIER_CODE",
    "DOSSIER_ID",
    "EXPORTED_ATTRIBUTES",
    "JsonLinesSpanExporter",
    "RedactingSpanExporter",
    "context_from",
    "continued_trace",
    "current_dossier_code",
    "current_trace_headers",
    "dossier_scope",
    "exporters_from_environment",
    "mark_dossier",
    "process_span",
    "redacted_attributes",
    "redacted_span",
    "redacted_status",
    "send_span",
    "service_resource",
    "setup_telemetry",
    "span_record",
    "tracer",
]
