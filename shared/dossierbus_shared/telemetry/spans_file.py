"""SPANS_FILE: finished spans as JSON lines, which the demo, the console and the end-to-end tests read
back."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import orjson
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span as one JSON object per line; safe for several processes (O_APPEND)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = b"".join(_line(span_record(span)) for span in spans)
        with self._lock:
            # Opened per batch (not kept open): a file moved or deleted meanwhile is written anew.
            file = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = memoryview(lines)
                while written:  # a regular file takes all of it at once, save on a full disk or a signal
                    written = written[os.write(file, written) :]
            finally:
                os.close(file)
        return SpanExportResult.SUCCESS


def _line(record: dict[str, object]) -> bytes:
    """One JSON line; orjson (a tenth of json's time per span), json for what it cannot write (an integer
    beyond 64 bits)."""
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()


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
