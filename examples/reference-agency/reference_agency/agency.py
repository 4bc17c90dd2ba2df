"""A reference agency system: reads its dossierbus inbox and reports progress back.

It uses nothing but aiokafka, the standard library and an Ed25519 implementation (`cryptography`), on
purpose: the agency-facing contract is plain Kafka plus CloudEvents 1.0 binary mode (JSON value, `ce_*`
headers, W3C trace context) and a signature over each report, so any Kafka client in any language, with
any Ed25519 library, can do what this file does.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import secrets
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

log = logging.getLogger("reference_agency")

ASSIGNED_TYPE = "vn.gov.dossierbus.dossier.assigned.v1"
SUPPLEMENTED_TYPE = "vn.gov.dossierbus.dossier.supplemented.v1"
CANCELLED_TYPE = "vn.gov.dossierbus.dossier.step-cancelled.v1"
REPORTED_TYPE = "vn.gov.dossierbus.dossier.status-reported.v1"
REPORTED_SCHEMA = "https://schemas.dossierbus.gov.vn/events/dossier.status-reported.v1.json"
EXTENSION_TYPE = "vn.gov.dossierbus.dossier.extension-requested.v1"
EXTENSION_SCHEMA = "https://schemas.dossierbus.gov.vn/events/dossier.extension-requested.v1.json"
DEFAULT_STEPS = ("processing", "result_ready", "returned")
AFTER_SUPPLEMENT = ("result_ready", "returned")

NOTES = {
    "processing": "Dossier received by the agency; processing started.",
    "supplement_requested": "Please supplement the dossier as instructed.",
    "result_ready": "The result is ready for the applicant.",
    "returned": "The result has been returned to the applicant.",
    "rejected": "The agency refuses this step.",
    "stopped": "Processing stops: the applicant does not meet the conditions the law sets.",
}
EXTENSION_REASON = (
    "Cần xác minh thêm thông tin với cơ quan khác / More checks with another agency are needed."
)
LEGAL_BASIS = (
    "Điều kiện đăng ký theo luật chuyên ngành (ví dụ minh họa) / The sector law's conditions (illustrative)"
)

# For demonstrations and tests: a form text containing "[<agency code>: <behaviour>]" makes that agency
# behave so for the dossier, e.g. "Bệnh viện Phụ sản Hà Nội [social-insurance-hanoi: rejects]".
# An action is a status to report, or: "supplement_requested/<n>" (a supplement to send within n working
# days), "extension" (form 04: a new due date a week after the current one), "stopped" (form 05: a
# refusal with its legal basis).
SCRIPTS = {
    "rejects": ("processing", "rejected"),
    "asks for a supplement": ("processing", "supplement_requested"),  # then finishes once supplemented
    # Not supplemented within the day, the dossier is refused by the bus; supplemented, it finishes.
    "asks for a supplement within a day": ("processing", "supplement_requested/1"),
    "extends": ("processing", "extension", "result_ready", "returned"),
    "stops": ("processing", "stopped"),
    "holds": ("processing",),  # and never finishes
}
SCRIPT = re.compile(r"\[(?P<agency>[a-z0-9-]+): (?P<behaviour>" + "|".join(SCRIPTS) + r")\]")

# Report ids are derived from the inbox event id and the status, not random: if the agency stops after
# producing a report but before committing the inbox offset, the redelivered assignment yields reports
# with the same ce_ids, which the bus drops as duplicates. Any fixed namespace UUID works.
REPORT_ID_NAMESPACE = uuid.UUID("6f1c2a4e-8d3b-4e6a-9a57-0c1d2e3f4a5b")

# The signature scheme: Ed25519 over these lines, the value's SHA-256 last; base64 in `ce_signature`.
SIGNATURE_SCHEME = "dossierbus-report-signature-v1"
SIGNED_HEADERS = ("ce_id", "ce_source", "ce_type", "ce_subject", "ce_time")

TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class Unprocessable(Exception):
    """An inbox record that will never become valid by reading it again."""


def topics(agency_code: str) -> tuple[str, str]:
    """The agency's inbox and reports topics."""
    return f"agency.{agency_code}.inbox", f"agency.{agency_code}.reports"


def header_map(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    """Kafka headers as text; a repeated header keeps its first value."""
    result: dict[str, str] = {}
    for name, value in headers:
        if name not in result and value is not None:
            result[name] = value.decode("utf-8", errors="replace")
    return result


def trace_headers(inbox: dict[str, str]) -> dict[str, str]:
    """W3C trace context for our hop: the caller's trace id and flags, with a new span id of our own.

    So operators see the agency in the same trace as the bus. Without a valid incoming traceparent we
    start a new trace and drop any tracestate, as W3C Trace Context requires.
    """
    span_id = _random_hex(8)
    match = TRACEPARENT.match(inbox.get("traceparent", ""))
    if match:
        version, trace_id, parent_id, flags = match.groups()
        if version != "ff" and trace_id != "0" * 32 and parent_id != "0" * 16:
            continued = {"traceparent": f"00-{trace_id}-{span_id}-{flags}"}
            if "tracestate" in inbox:
                continued["tracestate"] = inbox["tracestate"]
            return continued
    return {"traceparent": f"00-{_random_hex(16)}-{span_id}-01"}


def _random_hex(n_bytes: int) -> str:
    value = secrets.token_hex(n_bytes)
    # An all-zero id is invalid in W3C trace context; astronomically rare, but cheap to rule out.
    return value if value.strip("0") else _random_hex(n_bytes)


def parse_assignment(value: bytes | None, headers: dict[str, str]) -> dict[str, Any]:
    """The data of an inbox record (`dossier.assigned.v1`, or `dossier.supplemented.v1` /
    `dossier.step-cancelled.v1` about an assigned step); raise Unprocessable saying why not."""
    if headers.get("ce_specversion") != "1.0":
        raise Unprocessable(f"unsupported ce_specversion {headers.get('ce_specversion')!r}")
    if "ce_id" not in headers:
        raise Unprocessable("missing header ce_id")
    try:
        data = json.loads(value or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Unprocessable(f"data is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise Unprocessable("data is not a JSON object")
    # Only what this agency needs to report back; a real agency would validate the whole form.
    for field in ("dossier_id", "dossier_code", "step"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise Unprocessable(f"data.{field} is missing or not a string")
    return data


def load_signing_key(pem: str) -> Ed25519PrivateKey:
    """The agency's private key (PKCS#8 PEM, as the registry issues it on onboarding)."""
    key = load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"an Ed25519 private key is required, not {type(key).__name__}")
    return key


def signature(key: Ed25519PrivateKey, headers: dict[str, str], value: bytes) -> str:
    """The `ce_signature` of a report: the bus checks it with the public key registered for the agency.

    Signing the id and time with the body means a report can be neither altered nor re-sent as a new one.
    """
    lines = [SIGNATURE_SCHEME, *(headers[name] for name in SIGNED_HEADERS), hashlib.sha256(value).hexdigest()]
    return base64.b64encode(key.sign("\n".join(lines).encode())).decode()


def scripted_statuses(assignment: dict[str, Any], agency_code: str) -> tuple[str, ...] | None:
    """The statuses a "[<agency>: <behaviour>]" marker in the form asks this agency to report, if any."""
    form = assignment.get("form")
    for value in form.values() if isinstance(form, dict) else ():
        for match in SCRIPT.finditer(value if isinstance(value, str) else ""):
            if match["agency"] == agency_code:
                return SCRIPTS[match["behaviour"]]
    return None


def result_host(agency_code: str) -> str:
    """The host name this reference agency publishes its results on (registered with the registry)."""
    return f"{agency_code}.agency.example"


def extended_due_date(due_date: str) -> str:
    """A week after `due_date`, moved off a weekend. (A real agency uses its working calendar: the bus
    refuses a date that is not a working day, or beyond the extension its procedure allows.)"""
    later = date.fromisoformat(due_date) + timedelta(days=7)
    while later.weekday() >= 5:
        later += timedelta(days=1)
    return later.isoformat()


def build_report(
    assignment: dict[str, Any],
    agency_code: str,
    action: str,
    inbox: dict[str, str],
    key: Ed25519PrivateKey | None = None,
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """One record (key, value, headers) on the agency's reports topic for `action` (a status, or one of
    SCRIPTS' other actions), signed with `key` when given; `inbox`: the assignment's headers."""
    dossier_code: str = assignment["dossier_code"]
    now = datetime.now(UTC)
    common = {
        "dossier_id": assignment["dossier_id"],
        "dossier_code": dossier_code,
        "agency_code": agency_code,
        "step": assignment["step"],
    }
    event_type, schema = REPORTED_TYPE, REPORTED_SCHEMA
    if action == "extension":
        event_type, schema = EXTENSION_TYPE, EXTENSION_SCHEMA
        data: dict[str, Any] = {
            **common,
            "due_date": extended_due_date(assignment["due_date"]),
            "reason": EXTENSION_REASON,
            "requested_at": now.isoformat(),
        }
    else:
        status, _, within = action.partition("/")
        documents: list[dict[str, str]] = []
        if status == "result_ready":
            # Stand-in for the real signed result; the hash lets the citizen check the download.
            content = f"Result of dossier {dossier_code} issued by {agency_code}".encode()
            documents.append(
                {
                    "name": f"{dossier_code}-result.pdf",
                    "url": f"https://{result_host(agency_code)}/results/{dossier_code}.pdf",
                    "sha256": hashlib.sha256(content).hexdigest(),
                }
            )
        data = {
            **common,
            "status": "rejected" if status == "stopped" else status,
            "note": NOTES.get(status),
            "result_documents": documents,
            "reported_at": now.isoformat(),
        }
        if status == "stopped":
            data["legal_basis"] = LEGAL_BASIS
        if within:
            data["supplement_deadline_working_days"] = int(within)
    event_id = uuid.uuid5(REPORT_ID_NAMESPACE, f"{inbox['ce_id']}/{action}")
    headers = {
        "ce_specversion": "1.0",
        "ce_id": str(event_id),
        "ce_source": f"urn:agency:{agency_code}",
        "ce_type": event_type,
        "ce_time": now.isoformat(),
        "ce_subject": dossier_code,
        "ce_dataschema": schema,
        "content-type": "application/json",
        **trace_headers(inbox),
    }
    value = json.dumps(data, ensure_ascii=False).encode()
    if key is not None:
        headers["ce_signature"] = signature(key, headers, value)
    record_key = str(assignment["dossier_id"]).encode()
    return record_key, value, [(name, text.encode()) for name, text in headers.items()]


async def run_agency(
    bootstrap: str,
    agency_code: str,
    *,
    steps: Sequence[str] = DEFAULT_STEPS,
    delay_s: float = 0.0,
    private_key_pem: str | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Handle the agency's inbox until `stop` is set, through broker outages, reporting each status of
    `steps` per dossier, each report signed with the agency's private key (unsigned without one: the bus
    refuses those)."""
    key = load_signing_key(private_key_pem) if private_key_pem else None
    serve = functools.partial(_serve_inbox, bootstrap, agency_code, tuple(steps), delay_s, key)
    serving = asyncio.create_task(_serve_through_outages(serve, agency_code))
    stopping = asyncio.create_task((stop or asyncio.Event()).wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Cancelling at any point is safe: an offset is committed only after its reports, so whatever was
        # cut short is read again on the next start. It also never waits for a slow consumer-group join.
        stopping.cancel()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving  # re-raises what the agency failed with, if it did
    log.info("agency %s: stopped", agency_code)


RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
"""After a broker error the agency starts its clients again, waiting twice as long after each failure in a
row, up to the maximum."""


async def _serve_through_outages(serve: Callable[[], Awaitable[None]], agency_code: str) -> None:
    """Serve the inbox, and after a broker error (unreachable, a request timed out, the group's
    coordinator gone) start again with new clients rather than stop: the records whose offsets were not
    committed are read again, and their repeated reports carry the same ce_ids, which the bus drops."""
    wait_s = RETRY_FIRST_S
    while True:
        started = time.monotonic()
        try:
            await serve()
        except (KafkaError, OSError) as error:
            if time.monotonic() - started > 2 * RETRY_MAX_S:
                wait_s = RETRY_FIRST_S  # it had been serving a while: this is a new outage
            log.warning("agency %s: %r; starting again in %.0f s", agency_code, error, wait_s)
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, RETRY_MAX_S)


async def _serve_inbox(
    bootstrap: str,
    agency_code: str,
    steps: tuple[str, ...],
    delay_s: float,
    key: Ed25519PrivateKey | None,
) -> None:
    inbox, reports = topics(agency_code)
    consumer = AIOKafkaConsumer(
        inbox,
        bootstrap_servers=bootstrap,
        group_id=f"agency.{agency_code}",
        enable_auto_commit=False,  # commit by hand, only once the reports are safely on the broker
        auto_offset_reset="earliest",  # a new agency still gets what was assigned before it first ran
        fetch_max_wait_ms=100,  # as the services: an empty fetch held 100 ms, not polled 50 times a second
    )
    # acks="all": a report counts as sent only once every in-sync replica has it. Idempotence stays off
    # because the dev broker rejects it; duplicates are harmless since the bus de-duplicates by ce_id.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    try:
        await producer.start()
        await consumer.start()  # returns once the group has assigned us the inbox partitions
        log.info("agency %s: reading %s, reporting on %s", agency_code, inbox, reports)
        while True:
            fetched = await consumer.getmany(timeout_ms=1000)
            for partition, records in fetched.items():
                deliveries: list[asyncio.Future[Any]] = []
                for record in records:
                    deliveries += await _report_progress(
                        producer, reports, agency_code, steps, delay_s, key, record.value, record.headers
                    )
                # The records' reports are on the broker before their offsets are committed.
                await asyncio.gather(*deliveries)
                await _commit(consumer, partition, records[-1].offset + 1)
    finally:
        # Never commits (auto-commit is off); stopping half-started clients is fine too.
        await consumer.stop()
        await producer.stop()


async def _report_progress(
    producer: AIOKafkaProducer,
    reports_topic: str,
    agency_code: str,
    steps: tuple[str, ...],
    delay_s: float,
    key: Ed25519PrivateKey | None,
    value: bytes | None,
    raw_headers: Sequence[tuple[str, bytes]],
) -> list[asyncio.Future[Any]]:
    """Report each status of `steps` for one inbox record, or log why the record is skipped; the sends'
    deliveries, to await before the record counts as done."""
    headers = header_map(raw_headers)
    event_type = headers.get("ce_type")
    if event_type not in {ASSIGNED_TYPE, SUPPLEMENTED_TYPE, CANCELLED_TYPE}:
        log.info("skipping event of type %r (id %s)", event_type, headers.get("ce_id"))
        return []
    try:
        assignment = parse_assignment(value, headers)
    except Unprocessable as error:
        # It will never parse: log it and move on rather than stall every dossier queued behind it.
        log.error("skipping unprocessable record (id %s): %s", headers.get("ce_id"), error)
        return []
    if event_type == CANCELLED_TYPE:
        # A real agency stops its work on the step here; reports on it would be refused from now on.
        log.info("dossier %s: step %s cancelled", assignment["dossier_code"], assignment["step"])
        return []
    if event_type == SUPPLEMENTED_TYPE:
        log.info("dossier %s supplemented (step %s)", assignment["dossier_code"], assignment["step"])
        steps = AFTER_SUPPLEMENT
    else:
        log.info("dossier %s assigned (step %s)", assignment["dossier_code"], assignment["step"])
        steps = scripted_statuses(assignment, agency_code) or steps
    deliveries: list[asyncio.Future[Any]] = []
    for index, status in enumerate(steps):
        if index and delay_s:
            await asyncio.gather(*deliveries)
            await asyncio.sleep(delay_s)  # a stand-in for the civil servants' work
        record_key, data, report_headers = build_report(assignment, agency_code, status, headers, key)
        # The key keeps the statuses on the dossier's partition, in the order they are sent: the producer
        # has one request at a time in flight per partition, so even a retried one cannot overtake.
        deliveries.append(
            await producer.send(reports_topic, value=data, key=record_key, headers=report_headers)
        )
        log.info("dossier %s: reporting %s", assignment["dossier_code"], status)
    return deliveries


async def _commit(consumer: AIOKafkaConsumer, partition: TopicPartition, offset: int) -> None:
    try:
        await consumer.commit({partition: offset})
    except CommitFailedError as error:
        # The partition moved to another member in a rebalance; that member re-reads from the last
        # commit, and its repeated reports carry the same ce_ids, so the bus drops them.
        log.warning("offset commit failed after a rebalance: %s", error)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Reference agency system for dossierbus.")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    parser.add_argument("--agency", required=True, help="agency code, e.g. justice-hanoi")
    parser.add_argument(
        "--steps", default=",".join(DEFAULT_STEPS), help="comma-separated statuses to report, in order"
    )
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between two reports")
    parser.add_argument(
        "--private-key",
        default=os.environ.get("AGENCY_PRIVATE_KEY_FILE"),
        help="file with the agency's Ed25519 private key (PEM) that signs reports [$AGENCY_PRIVATE_KEY_FILE]",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    steps = tuple(step.strip() for step in args.steps.split(",") if step.strip())
    private_key_pem = None
    if args.private_key:
        try:
            private_key_pem = Path(args.private_key).read_text()
            load_signing_key(private_key_pem)
        except (OSError, ValueError) as error:
            parser.error(f"--private-key {args.private_key}: {error}")
    else:
        log.warning("no --private-key: reports go out unsigned, and the bus refuses unsigned reports")
    asyncio.run(_serve(args.bootstrap, args.agency, steps, args.delay, private_key_pem))


async def _serve(
    bootstrap: str, agency_code: str, steps: tuple[str, ...], delay_s: float, private_key_pem: str | None
) -> None:
    # Signal handlers live here, not in run_agency, so embedding run_agency never hijacks the host's signals.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await run_agency(
        bootstrap, agency_code, steps=steps, delay_s=delay_s, private_key_pem=private_key_pem, stop=stop
    )


if __name__ == "__main__":
    main()
