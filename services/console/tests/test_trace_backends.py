"""The trace backends of the console's waterfall: Jaeger's query API (against a local HTTP server speaking
Jaeger's JSON), the spans file (written by the services' own exporter), and the waterfall's layout."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from dossierbus_console.traces import JaegerBackend, SpansFileBackend, TraceSpan, waterfall
from dossierbus_shared.http_errors import ProblemError
from dossierbus_shared.telemetry import JsonLinesSpanExporter

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
JAEGER_TRACE = {
    "data": [
        {
            "traceID": TRACE,
            "spans": [
                {
                    "traceID": TRACE,
                    "spanID": "00f067aa0ba902b7",
                    "operationName": "POST /dossiers",
                    "references": [],
                    "startTime": 1_700_000_000_000_000,
                    "duration": 12_000,
                    "tags": [{"key": "dossier.code", "type": "string", "value": "000.00.01.H26-261126-0001"}],
                    "processID": "p1",
                },
                {
                    "traceID": TRACE,
                    "spanID": "b7ad6b7169203331",
                    "operationName": "process agency.justice-hanoi.reports",
                    "references": [{"refType": "CHILD_OF", "traceID": TRACE, "spanID": "00f067aa0ba902b7"}],
                    "startTime": 1_700_000_000_050_000,
                    "duration": 3_000,
                    "tags": [
                        {
                            "key": "messaging.destination.name",
                            "type": "string",
                            "value": "agency.justice-hanoi.reports",
                        },
                        {"key": "error", "type": "bool", "value": True},
                        {"key": "otel.status_description", "type": "string", "value": "IllegalTransition"},
                    ],
                    "processID": "p2",
                },
            ],
            "processes": {
                "p1": {"serviceName": "dossierbus-intake", "tags": []},
                "p2": {"serviceName": "dossierbus-routing", "tags": []},
            },
        }
    ]
}


class JaegerQuery(BaseHTTPRequestHandler):
    """Answers `/api/traces/{TRACE}` as Jaeger does, 404 (Jaeger's "trace not found") for any other id,
    and 500 for `/api/traces/broken`."""

    def do_GET(self) -> None:
        if self.path == f"/api/traces/{TRACE}":
            self._answer(200, JAEGER_TRACE)
        elif self.path == "/api/traces/broken":
            self._answer(500, {"errors": [{"code": 500, "msg": "storage down"}]})
        else:
            self._answer(404, {"data": None, "errors": [{"code": 404, "msg": "trace not found"}]})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def jaeger() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), JaegerQuery)
    # Polled for shutdown every 50 ms: serve_forever's default 0.5 s is how long each test's end would wait.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_jaeger_backend_reads_a_trace_from_the_query_api(jaeger: str) -> None:
    async with httpx.AsyncClient() as client:
        spans = await JaegerBackend(jaeger + "/", client).spans([TRACE, "0" * 32])
    assert [(span.service, span.name, span.parent_id) for span in spans] == [
        ("dossierbus-intake", "POST /dossiers", None),
        ("dossierbus-routing", "process agency.justice-hanoi.reports", "00f067aa0ba902b7"),
    ]
    intake, routing = spans
    assert intake.duration_us == 12_000 and intake.error is False
    assert routing.error is True and routing.status_message == "IllegalTransition"
    assert routing.hop == "justice-hanoi"


async def test_jaeger_backend_errors_are_502_problems(jaeger: str) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(ProblemError) as failed:
            await JaegerBackend(jaeger, client).spans(["broken"])
        assert failed.value.status == 502
        with pytest.raises(ProblemError) as unreachable:
            await JaegerBackend("http://127.0.0.1:9", client).spans([TRACE])
        assert unreachable.value.status == 502


async def test_spans_file_backend_reads_what_the_services_write(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    provider = TracerProvider(resource=Resource({"service.name": "dossierbus-routing"}))
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(spans_file)))
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("process dossier.verified") as parent,
        tracer.start_as_current_span(
            "send agency.police-hanoi.inbox",
            attributes={"messaging.destination.name": "agency.police-hanoi.inbox"},
        ) as child,
    ):
        child.set_status(Status(StatusCode.ERROR, "TimeoutError"))
    with tracer.start_as_current_span("another trace"):
        pass
    provider.shutdown()
    with spans_file.open("a", encoding="utf-8") as file:
        file.write('{"cut short by a cra')  # a line a crashed process left half-written

    trace_id = format(parent.get_span_context().trace_id, "032x")
    spans = await SpansFileBackend(spans_file).spans([trace_id])
    assert sorted(span.name for span in spans) == [
        "process dossier.verified",
        "send agency.police-hanoi.inbox",
    ]
    [sent] = [span for span in spans if span.parent_id is not None]
    assert sent.parent_id == format(parent.get_span_context().span_id, "016x")
    assert sent.error is True and sent.status_message == "TimeoutError"
    assert sent.hop == "police-hanoi"
    assert sent.service == "dossierbus-routing"
    assert await SpansFileBackend(tmp_path / "missing.jsonl").spans([trace_id]) == []


def span(name: str, start_us: int, duration_us: int, *, error: bool = False) -> TraceSpan:
    return TraceSpan(TRACE, name, None, "dossierbus-routing", name, start_us, duration_us, error, None, {})


def test_waterfall_lays_spans_out_from_the_first_and_says_whom_the_dossier_waits_on() -> None:
    dossier = {
        "dossier_code": "000.00.01.H26-261126-0001",
        "status": "supplement_requested",
        "timeline": [{"trace_id": TRACE}, {"trace_id": TRACE}, {"trace_id": None}],
        "steps": [
            {"step": "birth-registration", "agency_code": "justice-hanoi", "status": "supplement_requested"},
            {"step": "identity-card", "agency_code": "police-hanoi", "status": "waiting"},
        ],
    }
    result = waterfall(dossier, [span("b", 1_500, 100, error=True), span("a", 1_000, 2_000)], "spans-file")
    assert [(row["name"], row["offset_us"]) for row in result["spans"]] == [("a", 0), ("b", 500)]
    assert result["trace_ids"] == [TRACE]
    assert result["duration_us"] == 2_000
    assert result["errors"] == 1
    assert result["spans"][0]["service"] == "routing"
    waiting = result["waiting"]
    assert waiting["steps"] == [
        {
            "step": "birth-registration",
            "agency": "justice-hanoi",
            "status": "supplement_requested",
            "waits_on": "applicant",
            "since": None,
        }
    ]
    assert waiting["last_span"]["name"] == "a"
    assert waterfall({**dossier, "status": "returned"}, [], "jaeger")["waiting"] is None
