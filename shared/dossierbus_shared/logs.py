"""Logging configured once for every service: one line per record, JSON by default (LOG_FORMAT=json|text,
LOG_LEVEL), with the service, the active trace and span ids and the dossier being handled, and with
personal identifiers replaced by pseudonyms. uvicorn's loggers go through the same handler.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from dossierbus_shared.privacy import is_personal_field, pseudonym, redact_text
from dossierbus_shared.safe_errors import is_database_error, outline, type_name
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


LOG_FIELDS = frozenset(
    {
        # set by ContextFilter
        "service",
        "trace_id",
        "span_id",
        "dossier_code",
        # where a consumed record came from, and the bus's own
        "topic",
        "partition",
        "offset",
        "group_id",
        "message_id",
        "event_id",
        "event_type",
        "attempt",
        "status_code",
        "duration_ms",
    }
)
"""`extra=` fields written to a log line as they are; personal fields only as pseudonyms, others dropped."""

_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's, dropped by the formatter
}


class RedactFilter(logging.Filter):
    """Keeps payload values out of a line: `extra=` fields by the LOG_FIELDS allowlist, exceptions of the
    database (whose messages quote the values a statement failed on) by type, and personal identifiers
    in the message (arguments merged in) and the exception text by pseudonym."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in [name for name in vars(record) if name not in _RECORD_ATTRIBUTES]:
            if is_personal_field(name):
                setattr(record, name, pseudonym(str(getattr(record, name))))
            elif name not in LOG_FIELDS:
                delattr(record, name)
        if isinstance(record.args, tuple):
            record.args = tuple(_withheld(arg) for arg in record.args)
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def _withheld(argument: object) -> object:
    if isinstance(argument, BaseException) and is_database_error(argument):
        return f"{type_name(argument)} (message withheld)"
    return argument


def exception_text(exc_info: Any, formatted: Callable[[Any], str]) -> str:
    """A logged exception: a database error by its types and frames only, any other with personal
    identifiers pseudonymised."""
    error = exc_info[1] if isinstance(exc_info, tuple) else None
    if isinstance(error, BaseException) and is_database_error(error):
        return outline(error)
    return redact_text(formatted(exc_info))


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
        return exception_text(ei, lambda info: str(super(JsonLineFormatter, self).formatException(info)))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)-7s %(name)s [%(service)s trace=%(trace_id)s dossier=%(dossier_code)s] "
            "%(message)s",
            defaults={"trace_id": "-", "dossier_code": "-", "service": "-"},
        )

    def formatException(self, ei: Any) -> str:
        return exception_text(ei, super().formatException)


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
