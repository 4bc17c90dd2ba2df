"""Logging configured once for every service: one line per record, JSON by default (LOG_FORMAT=json|text,
LOG_LEVEL), with the service, the active trace and span ids and the dossier being handled, and with
personal identifiers replaced by pseudonyms. uvicorn's loggers go through the same handler.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from dossierbus_shared.privacy import redact_text
from dossierbus_shared.telemetry import current_dossier_code

LogFormat = Literal["json", "text"]

# Loggers that install handlers of their own; theirs are removed so that every line has one format.
FOREIGN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class ContextFilter(logging.Filter):
    """Adds `service`, `trace_id`, `span_id` (when a span is active) and `dossier_code` (when known)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        if (code := current_dossier_code()) is not None:
            record.dossier_code = code
        return True


class RedactFilter(logging.Filter):
    """Replaces personal identifiers in the message (arguments merged in) and the exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


class JsonLineFormatter(JsonFormatter):
    """{"timestamp", "level", "logger", "message", "service", "trace_id", "span_id", "dossier_code", ...}
    plus any `extra=` fields; exceptions as text in `exc_info`."""

    def __init__(self) -> None:
        super().__init__(
            fmt=["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, "taskName", "color_message"],
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["timestamp"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        super().add_fields(log_data, record, message_dict)

    def formatException(self, ei: Any) -> str:
        return redact_text(str(super().formatException(ei)))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)-7s %(name)s [%(service)s trace=%(trace_id)s dossier=%(dossier_code)s] "
            "%(message)s",
            defaults={"trace_id": "-", "dossier_code": "-", "service": "-"},
        )

    def formatException(self, ei: Any) -> str:
        return redact_text(super().formatException(ei))


def configure_logging(
    service: str, *, log_format: LogFormat = "json", level: str = "INFO"
) -> logging.Handler:
    """Install the one handler on the root logger (replacing one installed before) and route uvicorn's
    loggers through it. Returns the handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter(service))
    handler.addFilter(RedactFilter())
    handler.set_name("dossierbus")
    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == "dossierbus"]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in FOREIGN_LOGGERS:
        foreign = logging.getLogger(name)
        if foreign.handlers:  # one without handlers that does not propagate is switched off (--no-access-log)
            foreign.handlers.clear()
            foreign.propagate = True
    return handler
