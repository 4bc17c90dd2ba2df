"""Only allowlisted span and log attributes leave the process: values no pattern recognises as personal
(phones and IDs written as people write them) are dropped with the attribute that carried them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dossierbus_shared import privacy
from dossierbus_shared.logs import configure_logging
from dossierbus_shared.privacy import pseudonym, redact_text
from dossierbus_shared.telemetry import (
    JsonLinesSpanExporter,
    RedactingSpanExporter,
    redacted_status,
    span_record,
)

UNRECOGNISED = ["84912345678", "091 234 5678", "CCCD001090000001"]


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(exporter)))
    yield provider, exporter
    provider.shutdown()


def test_attributes_not_on_the_allowlist_are_not_exported(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    with provider.get_tracer("unit").start_as_current_span("POST /dossiers") as span:
        span.set_attribute("http.route", "/dossiers")
        span.set_attribute("http.status_code", 422)
        span.set_attribute("dossier.code", "000.00.01.H26-261125-0001")
        span.set_attribute("contact.phone_number", UNRECOGNISED[0])
        span.set_attribute("note", f"call {UNRECOGNISED[1]}")
        span.set_attribute("document", UNRECOGNISED[2])
        span.set_attribute("http.target", "/consents/001090000001")
        span.set_attribute("applicant.phone", UNRECOGNISED[1])
        span.add_event("lookup", {"subject": UNRECOGNISED[2], "messaging.kafka.offset": 7})

    [exported] = exporter.get_finished_spans()
    text = json.dumps(span_record(exported), ensure_ascii=False)
    for value in [*UNRECOGNISED, "001090000001"]:
        assert value not in text
    assert dict(exported.attributes or {}) == {
        "http.route": "/dossiers",
        "http.status_code": 422,
        "dossier.code": "000.00.01.H26-261125-0001",
        "applicant.phone": pseudonym(UNRECOGNISED[1]),
    }
    assert dict(exported.events[0].attributes or {}) == {"messaging.kafka.offset": 7}


def test_an_exception_is_exported_by_its_type_alone(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    with (
        pytest.raises(ValueError),
        provider.get_tracer("unit").start_as_current_span("INSERT dossiers"),
    ):
        raise ValueError('invalid input syntax for type date: "Nguyễn Thị Lan"')

    [exported] = exporter.get_finished_spans()
    text = json.dumps(span_record(exported), ensure_ascii=False)
    assert "Nguyễn" not in text
    assert exported.status.description == "ValueError"
    assert dict(exported.events[0].attributes or {})["exception.type"] == "ValueError"


def test_status_messages_written_by_the_code_stay_readable() -> None:
    assert redacted_status("dead-lettered") == "dead-lettered"
    assert redacted_status("KeyError: '001090000001'") == "KeyError"


@pytest.mark.parametrize("text", UNRECOGNISED)
def test_free_text_pseudonymises_phones_and_ids_as_people_write_them(text: str) -> None:
    assert text not in redact_text(f"applicant reachable at {text}.")


def test_log_extras_not_on_the_allowlist_are_dropped() -> None:
    handler = configure_logging("unit", log_format="json", level="INFO")
    stream = io.StringIO()
    handler.setStream(stream)
    try:
        logging.getLogger("dossierbus_unit").info(
            "submitted",
            extra={"attempt": 1, "contact": UNRECOGNISED[0], "personal_id": "001090000001"},
        )
    finally:
        logging.getLogger().removeHandler(handler)
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["attempt"] == 1
    assert "contact" not in line
    assert line["personal_id"] == pseudonym("001090000001")


def test_a_span_name_is_pseudonymised_with_the_pepper_of_the_moment(
    spans: tuple[TracerProvider, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether a name holds personal data is remembered per name; its pseudonym is made anew each time."""
    provider, exporter = spans
    tracer = provider.get_tracer("unit")
    for pepper in (b"a" * 32, b"b" * 32):
        monkeypatch.setattr(privacy, "_pepper", pepper)
        for name in ("GET /consents/{subject}", "GET /consents/001090000001"):
            with tracer.start_as_current_span(name):
                pass
    names = [span.name for span in exporter.get_finished_spans()]
    assert names[0] == names[2] == "GET /consents/{subject}"
    assert "001090000001" not in names[1] + names[3]
    assert names[1] != names[3]  # each under its own pepper


def test_the_spans_file_holds_one_json_line_per_span_as_it_was_exported(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans" / "spans.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(JsonLinesSpanExporter(spans_file))))
    tracer = provider.get_tracer("unit")
    with tracer.start_as_current_span("gửi hồ sơ") as span:
        span.set_attribute("messaging.kafka.offset", 2**70)  # beyond what orjson writes
    with tracer.start_as_current_span("POST /dossiers") as span:
        span.set_attribute("http.status_code", 202)
    provider.shutdown()

    lines = spans_file.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [record["name"] for record in records] == ["gửi hồ sơ", "POST /dossiers"]
    assert records[0]["attributes"] == {"messaging.kafka.offset": 2**70}
    assert records[1]["attributes"] == {"http.status_code": 202}
