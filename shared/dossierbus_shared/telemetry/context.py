"""A dossier's trace across processes: the W3C trace context stored with an outbox row or carried in
headers, the trace a later request continues, and the dossier a span and the log lines that follow are
about."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span

from dossierbus_shared.telemetry.attributes import DOSSIER_CODE, DOSSIER_ID
from dossierbus_shared.telemetry.provider import tracer

_dossier_code: ContextVar[str | None] = ContextVar("dossier_code", default=None)


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
