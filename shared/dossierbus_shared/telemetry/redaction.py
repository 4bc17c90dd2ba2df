"""Spans as they leave the process: only allowed attributes (attributes.py), personal fields as keyed
pseudonyms, exceptions by their type alone (their messages and stack traces may quote the values a
statement failed on); span names and other status messages, free text written by the code, pseudonymised
by pattern."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status
from opentelemetry.util.types import Attributes, AttributeValue

from dossierbus_shared.privacy import is_personal_field, pseudonym, redact_text
from dossierbus_shared.telemetry.attributes import EXPORTED_ATTRIBUTES


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
        name=_redacted_name(span.name),
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


def _redacted_name(name: str) -> str:
    """Span names repeat (a few per service): whether one holds anything personal is decided once."""
    return name if _nothing_personal(name) else redact_text(name)


@functools.lru_cache(maxsize=1024)
def _nothing_personal(text: str) -> bool:
    return redact_text(text) == text  # whatever the pepper: a pseudonym never equals what it replaced


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
