"""A dossier's trace, for the waterfall beside its timeline: spans read from a trace backend.

Two backends answer the same question (the spans of these trace ids): Jaeger's HTTP query API in
production (`GET {TRACE_QUERY_URL}/api/traces/{trace_id}`; Grafana Tempo serves the same API), and in
development the JSON-lines file the services write their finished spans to (SPANS_FILE, see
dossierbus_shared.telemetry). Both give `TraceSpan`s; `waterfall` lays them out and says where the dossier
waits now.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from dossierbus_shared.http_errors import ProblemError

SERVICE_PREFIX = "dossierbus-"
MAX_TRACES = 20
"""Trace ids read per dossier at most (its own trace, plus one per request that could not join it)."""
FINAL_STATUSES = frozenset({"returned", "rejected", "withdrawn"})
OPEN_STEP_STATUSES = ("assigned", "processing", "supplement_requested", "result_ready")


@dataclass(frozen=True)
class TraceSpan:
    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    name: str
    start_us: int
    duration_us: int
    error: bool
    status_message: str | None
    attributes: Mapping[str, Any]

    @property
    def hop(self) -> str | None:
        """The agency a messaging span concerns (its topic `agency.<code>.inbox|reports`), else None."""
        topic = str(self.attributes.get("messaging.destination.name") or "")
        parts = topic.split(".")
        return parts[1] if len(parts) >= 3 and parts[0] == "agency" else None


class TraceBackend(Protocol):
    name: str

    async def spans(self, trace_ids: Sequence[str]) -> list[TraceSpan]:
        """Every span of these traces that the backend holds (none for a trace it does not know)."""
        ...


class JaegerBackend:
    """Jaeger's (or Tempo's Jaeger-compatible) HTTP query API."""

    name = "jaeger"

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client

    async def spans(self, trace_ids: Sequence[str]) -> list[TraceSpan]:
        traces = await asyncio.gather(*(self._trace(trace_id) for trace_id in trace_ids))
        return [span for spans in traces for span in spans]

    async def _trace(self, trace_id: str) -> list[TraceSpan]:
        url = f"{self.base_url}/api/traces/{trace_id}"
        try:
            response = await self.client.get(url)
        except httpx.HTTPError as error:
            raise ProblemError(
                502, "Trace backend unavailable", f"{url} did not answer: {error!r}"
            ) from error
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise ProblemError(
                502, "Trace backend error", f"{url} answered {response.status_code}: {response.text[:300]}"
            )
        try:
            return list(jaeger_spans(response.json()))
        except (ValueError, KeyError, TypeError) as error:
            raise ProblemError(
                502, "Trace backend error", f"{url}: not a Jaeger trace ({error!r})"
            ) from error


def jaeger_spans(body: Mapping[str, Any]) -> Iterable[TraceSpan]:
    """The spans of a Jaeger `/api/traces/{id}` answer: `{"data": [{"spans": [...], "processes": {...}}]}`,
    times in microseconds, attributes as `tags` [{key, type, value}]."""
    for trace in body.get("data") or []:
        processes = trace.get("processes") or {}
        for span in trace["spans"]:
            tags = {tag["key"]: tag.get("value") for tag in span.get("tags") or []}
            parent = next(
                (ref["spanID"] for ref in span.get("references") or [] if ref.get("refType") == "CHILD_OF"),
                None,
            )
            service = processes.get(span.get("processID"), {}).get("serviceName", "")
            yield TraceSpan(
                trace_id=span["traceID"],
                span_id=span["spanID"],
                parent_id=parent,
                service=service,
                name=span["operationName"],
                start_us=int(span["startTime"]),
                duration_us=int(span["duration"]),
                error=tags.get("error") in (True, "true") or tags.get("otel.status_code") == "ERROR",
                status_message=tags.get("otel.status_description"),
                attributes=tags,
            )


class SpansFileBackend:
    """The development stack's spans file: one finished span per line (telemetry.JsonLinesSpanExporter)."""

    name = "spans-file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    async def spans(self, trace_ids: Sequence[str]) -> list[TraceSpan]:
        return await asyncio.to_thread(self._read, frozenset(trace_ids))

    def _read(self, trace_ids: frozenset[str]) -> list[TraceSpan]:
        if not self.path.exists():
            return []
        found = []
        with self.path.open(encoding="utf-8") as file:
            for line in file:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line still being written, or cut short by a crash
                if isinstance(record, dict) and record.get("trace_id") in trace_ids:
                    found.append(file_span(record))
        return found


def file_span(record: Mapping[str, Any]) -> TraceSpan:
    start_ns, end_ns = int(record["start_ns"]), int(record["end_ns"])
    return TraceSpan(
        trace_id=record["trace_id"],
        span_id=record["span_id"],
        parent_id=record.get("parent_id"),
        service=str(record.get("service") or ""),
        name=str(record.get("name") or ""),
        start_us=start_ns // 1000,
        duration_us=max(0, end_ns - start_ns) // 1000,
        error=record.get("status") == "ERROR",
        status_message=record.get("status_message"),
        attributes=record.get("attributes") or {},
    )


def waterfall(dossier: Mapping[str, Any], spans: Sequence[TraceSpan], backend: str) -> dict[str, Any]:
    """The console's trace document: spans in start order with offsets from the first, and where the
    dossier waits now (its open steps from routing's view, and the last span seen)."""
    ordered = sorted(spans, key=lambda span: (span.start_us, span.span_id))
    start = ordered[0].start_us if ordered else 0
    end = max((span.start_us + span.duration_us for span in ordered), default=0)
    rows = [
        {
            **{key: value for key, value in asdict(span).items() if key not in ("attributes", "start_us")},
            "service": span.service.removeprefix(SERVICE_PREFIX),
            "hop": span.hop,
            "offset_us": span.start_us - start,
            "dossier_code": span.attributes.get("dossier.code"),
        }
        for span in ordered
    ]
    last = max(ordered, key=lambda span: span.start_us + span.duration_us, default=None)
    return {
        "dossier_code": dossier.get("dossier_code"),
        "backend": backend,
        "trace_ids": trace_ids_of(dossier),
        "duration_us": end - start,
        "spans": rows,
        "errors": sum(span.error for span in ordered),
        "waiting": waiting_on(dossier, last),
    }


def trace_ids_of(dossier: Mapping[str, Any]) -> list[str]:
    """The dossier's trace ids in the order its timeline met them."""
    ids = dict.fromkeys(
        str(entry["trace_id"]) for entry in dossier.get("timeline") or [] if entry.get("trace_id")
    )
    return list(ids)[:MAX_TRACES]


def waiting_on(dossier: Mapping[str, Any], last: TraceSpan | None) -> dict[str, Any] | None:
    """None once the dossier is final; else its open steps, each with whom it waits on."""
    if dossier.get("status") in FINAL_STATUSES:
        return None
    steps = [
        {
            "step": step.get("step"),
            "agency": step.get("agency_code"),
            "status": step.get("status"),
            "waits_on": "applicant"
            if step.get("status") == "supplement_requested"
            else step.get("agency_code"),
            "since": step.get("updated_at"),
        }
        for step in dossier.get("steps") or []
        if step.get("status") in OPEN_STEP_STATUSES
    ]
    return {
        "status": dossier.get("status"),
        "steps": steps,
        "last_span": (
            {"service": last.service.removeprefix(SERVICE_PREFIX), "name": last.name, "span_id": last.span_id}
            if last
            else None
        ),
    }
