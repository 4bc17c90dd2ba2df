"""The reference agency against a real broker, fed by hand-built records as any other Kafka client would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from reference_agency.agency import (
    build_report,
    extended_due_date,
    load_signing_key,
    run_agency,
    scripted_statuses,
    trace_headers,
)

ASSIGNED = "vn.gov.dossierbus.dossier.assigned.v1"
REPORTED = "vn.gov.dossierbus.dossier.status-reported.v1"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INBOX_SPAN = "00f067aa0ba902b7"


@pytest.fixture
async def agency_code(kafka_bootstrap: str) -> str:
    """A fresh agency per test, with its two topics created up front as the bus does."""
    code = f"test-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(f"agency.{code}.{kind}", num_partitions=1, replication_factor=1)
                for kind in ("inbox", "reports")
            ]
        )
    finally:
        await admin.close()
    return code


@pytest.fixture
async def running_agency(kafka_bootstrap: str, agency_code: str) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_agency(kafka_bootstrap, agency_code, stop=stop))
    yield
    stop.set()
    await asyncio.wait_for(task, timeout=15)  # also re-raises anything the agency died of


def assigned_record(agency_code: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    dossier_id = str(uuid.uuid4())
    data: dict[str, Any] = {
        "dossier_id": dossier_id,
        "dossier_code": "000.00.01.H26-250101-0001",
        "agency_code": agency_code,
        "procedure_code": "1.001234",
        "step": "issue-judicial-record",
        "applicant": {
            "personal_id": "001090000001",
            "full_name": "Nguyễn Văn An",
            "date_of_birth": "1990-01-01",
            "email": "an@example.vn",
            "phone": "0912345678",
        },
        "form": {"purpose": "employment"},
        "national_facts": {},
        "due_date": "2025-01-10",
        "assigned_at": "2025-01-02T03:04:05+00:00",
    }
    headers = {
        "ce_specversion": "1.0",
        "ce_id": str(uuid.uuid4()),
        "ce_source": "urn:dossierbus:routing",
        "ce_type": ASSIGNED,
        "ce_time": "2025-01-02T03:04:05+00:00",
        "ce_subject": data["dossier_code"],
        "ce_dataschema": "https://schemas.dossierbus.gov.vn/events/dossier.assigned.v1.json",
        "content-type": "application/json",
        "traceparent": f"00-{TRACE_ID}-{INBOX_SPAN}-01",
    }
    return dossier_id.encode(), json.dumps(data).encode(), [(k, v.encode()) for k, v in headers.items()]


async def produce(
    kafka_bootstrap: str, topic: str, *records: tuple[bytes, bytes, list[tuple[str, bytes]]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def read_reports(
    kafka_bootstrap: str, agency_code: str, count: int, timeout_s: float = 30
) -> list[Any]:
    consumer = AIOKafkaConsumer(
        f"agency.{agency_code}.reports",
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    received: list[Any] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(received) < count:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    received.extend(records)
        await asyncio.sleep(0.5)  # and nothing more arrives
        for records in (await consumer.getmany(timeout_ms=200)).values():
            received.extend(records)
    finally:
        await consumer.stop()
    return received


async def committed_offset(
    kafka_bootstrap: str, agency_code: str, expected: int, timeout_s: float = 10
) -> int:
    """The agency group's committed inbox offset (-1: none), once it is `expected` or the time is up."""
    # A consumer that never subscribes only asks the group coordinator, without joining the group.
    reader = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=f"agency.{agency_code}", enable_auto_commit=False
    )
    await reader.start()
    partition = TopicPartition(f"agency.{agency_code}.inbox", 0)
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        while True:
            committed = await reader.committed(partition)
            offset: int = -1 if committed is None else committed
            if offset == expected or asyncio.get_running_loop().time() >= deadline:
                return offset
            await asyncio.sleep(0.1)
    finally:
        await reader.stop()


@pytest.mark.usefixtures("running_agency")
async def test_reports_every_step_in_order_in_the_same_trace(kafka_bootstrap: str, agency_code: str) -> None:
    key, value, headers = assigned_record(agency_code)
    await produce(kafka_bootstrap, f"agency.{agency_code}.inbox", (key, value, headers))

    reports = await read_reports(kafka_bootstrap, agency_code, 3)

    assignment = json.loads(value)
    assert [json.loads(r.value)["status"] for r in reports] == ["processing", "result_ready", "returned"]
    report_ids = set()
    span_ids = set()
    for report in reports:
        assert report.key == key
        h = {name: v.decode() for name, v in report.headers}
        assert h["ce_specversion"] == "1.0"
        assert h["ce_type"] == REPORTED
        assert h["ce_source"] == f"urn:agency:{agency_code}"
        assert h["ce_subject"] == assignment["dossier_code"]
        assert (
            h["ce_dataschema"] == "https://schemas.dossierbus.gov.vn/events/dossier.status-reported.v1.json"
        )
        assert h["content-type"] == "application/json"
        assert datetime.fromisoformat(h["ce_time"]).utcoffset() is not None
        report_ids.add(uuid.UUID(h["ce_id"]))
        version, trace_id, span_id, flags = h["traceparent"].split("-")
        assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
        assert re.fullmatch(r"[0-9a-f]{16}", span_id) and span_id != INBOX_SPAN
        span_ids.add(span_id)

        data = json.loads(report.value)
        assert data["dossier_id"] == assignment["dossier_id"]
        assert data["dossier_code"] == assignment["dossier_code"]
        assert data["agency_code"] == agency_code
        assert data["step"] == assignment["step"]
        assert datetime.fromisoformat(data["reported_at"]).utcoffset() == UTC.utcoffset(None)
        if data["status"] == "result_ready":
            [document] = data["result_documents"]
            assert document["url"].startswith("https://") and re.fullmatch(
                r"[0-9a-f]{64}", document["sha256"]
            )
        else:
            assert data["result_documents"] == []
    assert len(report_ids) == 3 and len(span_ids) == 3
    assert await committed_offset(kafka_bootstrap, agency_code, 1) == 1


@pytest.mark.usefixtures("running_agency")
async def test_skips_malformed_and_foreign_records_and_keeps_going(
    kafka_bootstrap: str, agency_code: str
) -> None:
    good_key, good_value, good_headers = assigned_record(agency_code)
    _, _, assigned_headers = assigned_record(agency_code)
    foreign_headers = [(k, REPORTED.encode() if k == "ce_type" else v) for k, v in assigned_headers]
    await produce(
        kafka_bootstrap,
        f"agency.{agency_code}.inbox",
        (good_key, b'{"dossier_id": "not json', assigned_headers),
        (good_key, good_value, foreign_headers),
        (good_key, good_value, good_headers),
    )

    reports = await read_reports(kafka_bootstrap, agency_code, 3)

    assert [json.loads(r.value)["status"] for r in reports] == ["processing", "result_ready", "returned"]
    assert {r.key for r in reports} == {good_key}
    assert await committed_offset(kafka_bootstrap, agency_code, 3) == 3


async def test_an_agency_stopped_mid_dossier_redoes_it_with_the_same_report_ids(
    kafka_bootstrap: str, agency_code: str
) -> None:
    """At least once: unfinished work is redone on restart, and the repeats carry the ids the bus drops."""
    key, value, headers = assigned_record(agency_code)
    await produce(kafka_bootstrap, f"agency.{agency_code}.inbox", (key, value, headers))
    stop = asyncio.Event()
    first_run = asyncio.create_task(run_agency(kafka_bootstrap, agency_code, delay_s=60, stop=stop))
    await read_reports(kafka_bootstrap, agency_code, 1)  # "processing" is out; "result_ready" is 60 s away
    stop.set()
    await asyncio.wait_for(first_run, timeout=15)
    assert await committed_offset(kafka_bootstrap, agency_code, -1, timeout_s=0) == -1

    stop = asyncio.Event()
    second_run = asyncio.create_task(run_agency(kafka_bootstrap, agency_code, stop=stop))
    reports = await read_reports(kafka_bootstrap, agency_code, 4)
    stop.set()
    await asyncio.wait_for(second_run, timeout=15)

    statuses = [json.loads(r.value)["status"] for r in reports]
    assert statuses == ["processing", "processing", "result_ready", "returned"]
    ids = [dict(r.headers)["ce_id"] for r in reports]
    assert ids[0] == ids[1] and len(set(ids)) == 3


async def forward(port: int, to: str) -> asyncio.Server:
    """A TCP relay on `port` to the broker at `to` (host:port): a bootstrap address that answers only once
    the relay runs."""
    host, broker_port = to.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        broker_reader, broker_writer = await asyncio.open_connection(host, int(broker_port))
        await asyncio.gather(pipe(client_reader, broker_writer), pipe(broker_reader, client_writer))

    return await asyncio.start_server(relay, "127.0.0.1", port)


async def test_an_agency_whose_broker_is_away_starts_again_and_serves_when_it_is_back(
    kafka_bootstrap: str, agency_code: str, unused_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker error does not end the agency: it starts its clients again, later each time, until the
    broker answers."""
    port = unused_port
    await produce(kafka_bootstrap, f"agency.{agency_code}.inbox", assigned_record(agency_code))
    stop = asyncio.Event()
    caplog.set_level(logging.WARNING, logger="reference_agency")
    agency = asyncio.create_task(run_agency(f"127.0.0.1:{port}", agency_code, stop=stop))
    try:
        async with asyncio.timeout(10):
            while not any("starting again in 1 s" in record.getMessage() for record in caplog.records):
                assert not agency.done(), agency
                await asyncio.sleep(0.05)
        relay = await forward(port, kafka_bootstrap)  # the broker is back at that address
        async with relay:
            reports = await read_reports(kafka_bootstrap, agency_code, 3)
            statuses = [json.loads(report.value)["status"] for report in reports]
            assert statuses == ["processing", "result_ready", "returned"]
            assert await committed_offset(kafka_bootstrap, agency_code, 1) == 1
    finally:
        stop.set()
        await asyncio.wait_for(agency, timeout=15)
    retries = [r.getMessage() for r in caplog.records if "starting again" in r.getMessage()]
    assert retries and all(agency_code in message for message in retries), retries


def test_a_redelivered_assignment_yields_the_same_report_ids() -> None:
    """What makes at-least-once safe: the bus de-duplicates the repeated reports by ce_id."""
    _, value, raw_headers = assigned_record("justice-hanoi")
    headers = {k: v.decode() for k, v in raw_headers}
    first = build_report(json.loads(value), "justice-hanoi", "processing", headers)
    again = build_report(json.loads(value), "justice-hanoi", "processing", headers)
    other = build_report(json.loads(value), "justice-hanoi", "returned", headers)
    assert dict(first[2])["ce_id"] == dict(again[2])["ce_id"] != dict(other[2])["ce_id"]


def test_trace_context_is_continued_or_else_restarted() -> None:
    continued = trace_headers({"traceparent": f"00-{TRACE_ID}-{INBOX_SPAN}-00", "tracestate": "gov=1"})
    version, trace_id, span_id, flags = continued["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "00") and span_id != INBOX_SPAN
    assert continued["tracestate"] == "gov=1"
    for invalid in ("", "garbage", f"00-{'0' * 32}-{INBOX_SPAN}-01", f"ff-{TRACE_ID}-{INBOX_SPAN}-01"):
        restarted = trace_headers({"traceparent": invalid, "tracestate": "gov=1"})
        assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", restarted["traceparent"])
        assert TRACE_ID not in restarted["traceparent"] and "tracestate" not in restarted


def test_reports_are_signed_so_the_bus_verifies_them_with_the_registered_key() -> None:
    """The agency's own signing code and the bus's verifier agree (dossierbus_shared.signing)."""
    from dossierbus_registry.agencies import new_key_pair
    from dossierbus_shared.signing import BadSignature, load_public_key, verify

    private_pem, public_pem = new_key_pair()
    _, value, raw_headers = assigned_record("justice-hanoi")
    inbox = {k: v.decode() for k, v in raw_headers}
    _, report, report_headers = build_report(
        json.loads(value), "justice-hanoi", "processing", inbox, load_signing_key(private_pem)
    )
    headers = {k: v.decode() for k, v in report_headers}
    now = datetime.now(UTC)
    verify(load_public_key(public_pem), headers, report, now=now, max_age=timedelta(minutes=5))
    with pytest.raises(BadSignature):
        verify(
            load_public_key(public_pem),
            headers,
            report.replace(b"processing", b"returned"),
            now=now,
            max_age=timedelta(minutes=5),
        )
    *_, unsigned_headers = build_report(json.loads(value), "justice-hanoi", "processing", inbox)
    assert "ce_signature" not in dict(unsigned_headers)


@pytest.mark.parametrize(
    ("text", "statuses"),
    [
        ("Bệnh viện [justice-hanoi: rejects]", ("processing", "rejected")),
        ("[justice-hanoi: asks for a supplement]", ("processing", "supplement_requested")),
        ("Bệnh viện [justice-hanoi: holds]", ("processing",)),
        ("[justice-hanoi: asks for a supplement within a day]", ("processing", "supplement_requested/1")),
        ("[justice-hanoi: extends]", ("processing", "extension", "result_ready", "returned")),
        ("[justice-hanoi: stops]", ("processing", "stopped")),
        ("Bệnh viện [police-hanoi: rejects]", None),  # another agency's script
        ("Bệnh viện [justice-hanoi: sings]", None),  # not a behaviour
        ("Bệnh viện Phụ sản Hà Nội", None),
    ],
)
def test_a_form_marker_scripts_the_agency_for_one_dossier(
    text: str, statuses: tuple[str, ...] | None
) -> None:
    assignment = {"form": {"place_of_birth": text, "child_date_of_birth": "2026-11-20", "n": 3}}
    assert scripted_statuses(assignment, "justice-hanoi") == statuses


ASSIGNMENT = {
    "dossier_id": "5f0e2d2c-93f4-4d3e-8a47-3c1b0f9a8d11",
    "dossier_code": "000.00.01.H26-261202-0001",
    "step": "birth-registration",
    "due_date": "2026-12-04",  # a Friday
}
INBOX = {"ce_id": "0b7c4a4e-4f4d-4a57-9c55-0d8e7f1b2c3d"}


def test_an_extension_asks_for_a_working_day_a_week_later_with_its_reason() -> None:
    _, value, headers = build_report(ASSIGNMENT, "justice-hanoi", "extension", INBOX)
    data, named = json.loads(value), dict(headers)
    assert named["ce_type"] == b"vn.gov.dossierbus.dossier.extension-requested.v1"
    assert data["due_date"] == "2026-12-11" and data["reason"] and data["step"] == "birth-registration"
    assert "status" not in data
    assert extended_due_date("2026-12-05") == "2026-12-14", "a Saturday plus a week is moved to Monday"


def test_a_stop_is_a_refusal_with_its_legal_basis_and_a_supplement_may_carry_its_deadline() -> None:
    _, stopped, _ = build_report(ASSIGNMENT, "justice-hanoi", "stopped", INBOX)
    assert json.loads(stopped)["status"] == "rejected" and json.loads(stopped)["legal_basis"]
    _, asked, _ = build_report(ASSIGNMENT, "justice-hanoi", "supplement_requested/1", INBOX)
    assert json.loads(asked)["status"] == "supplement_requested"
    assert json.loads(asked)["supplement_deadline_working_days"] == 1
    _, plain, _ = build_report(ASSIGNMENT, "justice-hanoi", "supplement_requested", INBOX)
    assert "supplement_deadline_working_days" not in json.loads(plain)
    ids = {
        dict(build_report(ASSIGNMENT, "justice-hanoi", action, INBOX)[2])["ce_id"]
        for action in SCRIPT_ACTIONS
    }
    assert len(ids) == len(SCRIPT_ACTIONS), "each action its own report id"


SCRIPT_ACTIONS = ("processing", "supplement_requested", "supplement_requested/1", "extension", "stopped")
