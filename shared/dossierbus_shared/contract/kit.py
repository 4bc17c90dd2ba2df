"""The contract test kit: plays the bus against an agency system and checks what the agency reports.

    dossierbus-contract-kit --bootstrap HOST:PORT --agency CODE --public-key agency.pem

It publishes `dossier.assigned.v1` events on `agency.<code>.inbox` and reads `agency.<code>.reports`:

- happy path: an ordinary dossier gets `processing`, then `result_ready` (then `returned`, if the agency
  reports it), nothing else;
- supplement: a dossier whose form holds the text `[<code>: asks for a supplement]` gets `processing`
  (optional), then `supplement_requested` with a note telling the citizen what is missing, and nothing
  after it;
- rejection: a form with `[<code>: rejects]` gets `processing` (optional), then `rejected` with a note;
- malformed input: records the agency cannot use (not JSON, missing fields, no CloudEvents headers, an
  unknown event type) go first on a partition, then an ordinary dossier: the agency must skip them
  without reporting anything for them, and go on to handle the dossier behind them;
- redelivery: the same assignment delivered twice (same `ce_id`, as after a crash) is answered with the
  same report ids, so the bus drops the repeats (or is not answered twice at all);
- signature: every report carries a `ce_signature` that verifies with the agency's registered key.

Every report must also be a valid `dossier.status-reported.v1` CloudEvent for the dossier and step it
answers, from `urn:agency:<code>`, keyed by the dossier id, continuing the assignment's trace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dossierbus_shared.envelope import Envelope, KafkaRecord, MalformedEvent, header_map
from dossierbus_shared.events import (
    Applicant,
    DossierAssigned,
    DossierStatus,
    DossierStatusReported,
    agency_topics,
)
from dossierbus_shared.signing import BadSignature, load_public_key, verify

SCENARIO_FIELD = "contract_test"
"""The form field in which the kit asks an agency for an outcome, as `[<agency code>: <behaviour>]` (the
convention the reference agency follows for demonstrations and tests)."""
SUPPLEMENT = "asks for a supplement"
REJECT = "rejects"
KIT_SOURCE = "urn:dossierbus:contract-kit"
KIT_STEP = "contract-test"
KIT_CODE_PREFIX = "KIT-"
ENDINGS = frozenset(
    {
        DossierStatus.RESULT_READY,
        DossierStatus.RETURNED,
        DossierStatus.REJECTED,
        DossierStatus.SUPPLEMENT_REQUESTED,
    }
)

S = DossierStatus
EXPECTED: dict[str, tuple[tuple[DossierStatus, ...], ...]] = {
    "happy path": ((S.PROCESSING, S.RESULT_READY), (S.PROCESSING, S.RESULT_READY, S.RETURNED)),
    "supplement": ((S.SUPPLEMENT_REQUESTED,), (S.PROCESSING, S.SUPPLEMENT_REQUESTED)),
    "rejection": ((S.REJECTED,), (S.PROCESSING, S.REJECTED)),
    "malformed input": ((S.PROCESSING, S.RESULT_READY), (S.PROCESSING, S.RESULT_READY, S.RETURNED)),
    "redelivery": ((S.PROCESSING, S.RESULT_READY), (S.PROCESSING, S.RESULT_READY, S.RETURNED)),
}
NOTE_REQUIRED = frozenset({S.SUPPLEMENT_REQUESTED, S.REJECTED})


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class KitReport:
    agency_code: str
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    def render(self) -> str:
        lines = [f"contract test kit, agency {self.agency_code}:"]
        for check in self.checks:
            lines.append(f"  {'PASS' if check.passed else 'FAIL'}  {check.name}")
            lines += [f"        {detail}" for detail in check.details]
        lines.append("all checks passed" if self.passed else "the agency does not meet the contract")
        return "\n".join(lines)


@dataclass
class _Case:
    """One dossier the kit assigned, and the reports that came back for it."""

    scenario: str
    envelope: Envelope[DossierAssigned]
    trace_id: str
    reports: list[ConsumerRecord[bytes, bytes]] = field(default_factory=list)
    last_report_at: float | None = None


def assignment(agency_code: str, form: dict[str, str], *, due: date | None = None) -> DossierAssigned:
    """A dossier step assigned to the agency, with a made-up applicant (no real personal data)."""
    dossier_id = uuid.uuid4()
    return DossierAssigned(
        dossier_id=dossier_id,
        dossier_code=f"{KIT_CODE_PREFIX}{datetime.now(UTC):%y%m%d}-{dossier_id.hex[:8].upper()}",
        agency_code=agency_code,
        procedure_code="contract-test",
        step=KIT_STEP,
        applicant=Applicant(
            personal_id="001090000001",
            full_name="Nguyễn Văn Kiểm Thử",
            date_of_birth=date(1990, 1, 1),
            email="kiem.thu@example.vn",
        ),
        form={"purpose": "contract test", **form},
        due_date=due or date.today() + timedelta(days=5),
        assigned_at=datetime.now(UTC),
    )


def _record(envelope: Envelope[DossierAssigned], trace_id: str) -> KafkaRecord:
    record = envelope.to_kafka()
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    return KafkaRecord(
        record.topic, record.key, record.value, [*record.headers, ("traceparent", traceparent.encode())]
    )


def answers_the_kit(report: DossierStatusReported) -> bool:
    """Whether a report answers one of the kit's made-up dossiers (no procedure has the kit's step).

    The bus reads every agency's reports topic, so it sees these too: it drops them instead of
    dead-lettering them as reports on an unknown dossier, and a kit run leaves its DLQ empty."""
    return report.step == KIT_STEP and report.dossier_code.startswith(KIT_CODE_PREFIX)


def malformed_records(inbox: KafkaRecord) -> list[KafkaRecord]:
    """Records an agency cannot use, on the same partition as (so before) the `inbox` record."""
    headers = dict(inbox.headers)

    def with_headers(**changes: bytes | None) -> list[tuple[str, bytes]]:
        changed = {**headers, **changes, "ce_id": str(uuid.uuid4()).encode()}
        return [(name, value) for name, value in changed.items() if value is not None]

    def variant(value: bytes, header_list: list[tuple[str, bytes]]) -> KafkaRecord:
        return KafkaRecord(inbox.topic, inbox.key, value, header_list)

    return [
        variant(b"{not json", with_headers()),
        variant(b'["a JSON array, not an object"]', with_headers()),
        variant(b'{"dossier_id": "' + inbox.key + b'"}', with_headers()),  # no dossier_code, no step
        variant(inbox.value, []),  # no CloudEvents headers at all
        variant(inbox.value, with_headers(ce_type=b"vn.gov.dossierbus.contract-test.unknown.v1")),
        variant(b"\xff\xfe not UTF-8", with_headers()),
    ]


async def run_contract_kit(
    bootstrap: str,
    agency_code: str,
    public_key: Ed25519PublicKey,
    *,
    timeout_s: float = 60.0,
    settle_s: float = 2.0,
    max_report_age: timedelta = timedelta(minutes=10),
) -> KitReport:
    """Run every scenario once against the agency listening on `bootstrap`; never raises on a failure."""
    inbox_topic, reports_topic = agency_topics(agency_code)
    cases = [
        _case("happy path", agency_code, {}),
        _case("supplement", agency_code, {SCENARIO_FIELD: f"[{agency_code}: {SUPPLEMENT}]"}),
        _case("rejection", agency_code, {SCENARIO_FIELD: f"[{agency_code}: {REJECT}]"}),
        _case("malformed input", agency_code, {}),
        _case("redelivery", agency_code, {}),
    ]
    by_key = {case.envelope.key.encode(): case for case in cases}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await consumer.start()
    await producer.start()
    try:
        partitions = await _partitions(consumer, reports_topic)
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)  # only reports to what this run sends
        for partition in partitions:
            await consumer.position(partition)
        for case in cases:
            record = _record(case.envelope, case.trace_id)
            if case.scenario == "malformed input":
                for bad in malformed_records(record):
                    await producer.send_and_wait(bad.topic, bad.value, key=bad.key, headers=bad.headers)
            for _ in range(2 if case.scenario == "redelivery" else 1):
                await producer.send_and_wait(
                    inbox_topic, record.value, key=record.key, headers=record.headers
                )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not all(_settled(case, settle_s) for case in cases):
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                for report in batch:
                    answered = by_key.get(report.key or b"") or by_key.get(_dossier_id(report.value))
                    if answered is None:
                        continue  # a report on another dossier (an earlier run, real traffic)
                    answered.reports.append(report)
                    answered.last_report_at = time.monotonic()
    finally:
        await consumer.stop()
        await producer.stop()
    checks = [_judge(case, agency_code, timeout_s) for case in cases]
    checks.append(_signatures(cases, public_key, max_report_age))
    return KitReport(agency_code, tuple(checks))


def _case(scenario: str, agency_code: str, form: dict[str, str]) -> _Case:
    return _Case(scenario, Envelope(assignment(agency_code, form), source=KIT_SOURCE), secrets.token_hex(16))


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    if topic not in await consumer.topics():  # also refreshes the consumer's metadata
        raise LookupError(f"topic {topic} does not exist: is the agency onboarded?")
    return [TopicPartition(topic, number) for number in sorted(consumer.partitions_for_topic(topic) or ())]


def _dossier_id(value: bytes | None) -> bytes:
    """The dossier a report is about by its data, to name a report sent with the wrong key."""
    try:
        data = json.loads(value or b"")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return b""
    dossier_id = data.get("dossier_id") if isinstance(data, dict) else None
    return dossier_id.encode() if isinstance(dossier_id, str) else b""


def _settled(case: _Case, settle_s: float) -> bool:
    """Done: the last report ends the scenario and nothing more came for `settle_s`."""
    if not case.reports or case.last_report_at is None:
        return False
    last = _status(case.reports[-1])
    return last in ENDINGS and time.monotonic() - case.last_report_at >= settle_s


def _status(record: ConsumerRecord[bytes, bytes]) -> DossierStatus | None:
    with contextlib.suppress(MalformedEvent):
        data = Envelope.from_kafka(record.value, record.headers).data
        if isinstance(data, DossierStatusReported):
            return data.status
    return None


def _judge(case: _Case, agency_code: str, timeout_s: float) -> Check:
    problems: list[str] = []
    statuses: list[DossierStatus] = []
    seen_ids: set[str] = set()
    ids_by_status: dict[DossierStatus, set[str]] = {}
    assigned = case.envelope.data
    for record in case.reports:
        headers = header_map(record.headers)
        if headers.get("ce_id") in seen_ids:
            continue  # a repeated report (at-least-once delivery) is fine: the bus drops it
        seen_ids.add(headers.get("ce_id", ""))
        try:
            report = Envelope.from_kafka(record.value, record.headers)
        except MalformedEvent as error:
            problems.append(f"a report the bus would dead-letter: {error.reason}")
            continue
        data = report.data
        if not isinstance(data, DossierStatusReported):
            problems.append(f"unexpected event type {report.type} on the reports topic")
            continue
        expected = {
            "the Kafka key": ((record.key or b"").decode(errors="replace"), case.envelope.key),
            "ce_source": (report.source, f"urn:agency:{agency_code}"),
            "ce_subject": (headers.get("ce_subject"), assigned.dossier_code),
            "data.agency_code": (data.agency_code, agency_code),
            "data.dossier_id": (data.dossier_id, assigned.dossier_id),
            "data.dossier_code": (data.dossier_code, assigned.dossier_code),
            "data.step": (data.step, assigned.step),
        }
        problems += [
            f"{name} is {got!r}, expected {want!r}" for name, (got, want) in expected.items() if got != want
        ]
        trace = headers.get("traceparent", "")
        if trace.split("-")[1:2] != [case.trace_id]:
            problems.append(f"traceparent {trace!r} does not continue the assignment's trace {case.trace_id}")
        if data.status in NOTE_REQUIRED and not (data.note or "").strip():
            problems.append(f"{data.status.value} without a note telling the citizen why")
        ids_by_status.setdefault(data.status, set()).add(str(report.id))
        if case.scenario == "redelivery" and data.status in statuses:
            continue  # judged below, by its id
        statuses.append(data.status)
    for status, ids in ids_by_status.items():
        if len(ids) > 1 and case.scenario == "redelivery":
            problems.append(
                f"the redelivered assignment got {status.value} again with a new ce_id: the bus would take it"
                " for a new report; derive report ids from the assignment's ce_id, or store them"
            )
    if not statuses:
        problems.append(f"no valid report within {timeout_s:.0f} s")
    elif tuple(statuses) not in EXPECTED[case.scenario]:
        wanted = " or ".join(" → ".join(s.value for s in option) for option in EXPECTED[case.scenario])
        problems.append(f"reported {' → '.join(s.value for s in statuses)}; expected {wanted}")
    summary = f"dossier {assigned.dossier_code}: {' → '.join(s.value for s in statuses) or 'nothing'}"
    return Check(case.scenario, not problems, (summary, *problems))


def _signatures(cases: Sequence[_Case], public_key: Ed25519PublicKey, max_age: timedelta) -> Check:
    problems: list[str] = []
    count = 0
    for case in cases:
        for record in case.reports:
            count += 1
            headers = header_map(record.headers)
            try:
                verify(public_key, headers, record.value or b"", now=datetime.now(UTC), max_age=max_age)
            except (BadSignature, ValueError) as error:
                problems.append(f"report {headers.get('ce_id')} ({case.envelope.data.dossier_code}): {error}")
    if not count:
        problems.append("no report to check")
    return Check(
        "signature", not problems, (f"{count} reports checked against the registered key", *problems)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dossierbus-contract-kit", description="Check an agency system against the dossierbus contract."
    )
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers the agency system uses")
    parser.add_argument("--agency", required=True, help="the agency code, e.g. justice-hue")
    parser.add_argument(
        "--public-key",
        required=True,
        type=Path,
        help="PEM file of the agency's registered Ed25519 public key",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the reports")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds of quiet after a final report")
    args = parser.parse_args(argv)
    try:
        public_key = load_public_key(args.public_key.read_text())
    except (OSError, ValueError) as error:
        print(f"dossierbus-contract-kit: cannot read the public key: {error}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(
            run_contract_kit(
                args.bootstrap, args.agency, public_key, timeout_s=args.timeout, settle_s=args.settle
            )
        )
    except (LookupError, ValueError, OSError) as error:
        print(f"dossierbus-contract-kit: {error}", file=sys.stderr)
        return 2
    print(report.render())
    return 0 if report.passed else 1


def run() -> None:
    sys.exit(main())
