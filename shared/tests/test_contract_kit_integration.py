"""The contract test kit on a real broker: the reference agency passes every check; an agency that does not
sign, or that answers wrongly, fails the checks it should fail and only those."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierbus_shared.contract.kit import SCENARIO_FIELD, KitReport, run_contract_kit
from dossierbus_shared.events import agency_topics
from dossierbus_shared.kafka import ensure_topics
from dossierbus_shared.signing import sign, verify
from reference_agency.agency import (
    DEFAULT_STEPS,
    Unprocessable,
    build_report,
    header_map,
    parse_assignment,
    run_agency,
    scripted_statuses,
)

SCENARIOS = ("happy path", "supplement", "rejection", "malformed input", "redelivery")


@asynccontextmanager
async def reference_agency(
    bootstrap: str, *, private_key: Ed25519PrivateKey | None, steps: Sequence[str] = DEFAULT_STEPS
) -> AsyncIterator[str]:
    """A freshly onboarded agency code (its topics created, as the registry does) served by the reference
    agency until the block ends."""
    code = f"kit-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, agency_topics(code), partitions=2)
    stop = asyncio.Event()
    pem = private_pem(private_key) if private_key else None
    task = asyncio.create_task(run_agency(bootstrap, code, steps=steps, stop=stop, private_key_pem=pem))
    try:
        yield code
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)  # re-raises whatever the agency died of


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def kit_against(
    bootstrap: str, *, signing_key: Ed25519PrivateKey | None, steps: Sequence[str] = DEFAULT_STEPS
) -> KitReport:
    registered = signing_key or Ed25519PrivateKey.generate()
    async with reference_agency(bootstrap, private_key=signing_key, steps=steps) as code:
        return await run_contract_kit(bootstrap, code, registered.public_key(), timeout_s=45, settle_s=1.5)


async def test_the_reference_agency_passes_every_check(kafka_bootstrap: str) -> None:
    report = await kit_against(kafka_bootstrap, signing_key=Ed25519PrivateKey.generate())
    assert report.passed, report.render()
    assert [check.name for check in report.checks] == [*SCENARIOS, "signature"]
    assert "processing → result_ready → returned" in report.check("happy path").details[0]
    assert "processing → supplement_requested" in report.check("supplement").details[0]
    assert "processing → rejected" in report.check("rejection").details[0]
    assert "processing → result_ready → returned" in report.check("redelivery").details[0]
    # 3 + 2 + 2 + 3, and the redelivered assignment answered twice with the same three ids.
    assert report.check("signature").details[0] == "16 reports checked against the registered key"


async def test_an_agency_that_does_not_sign_fails_the_signature_check_only(kafka_bootstrap: str) -> None:
    report = await kit_against(kafka_bootstrap, signing_key=None)
    assert not report.passed
    assert [check.name for check in report.checks if not check.passed] == ["signature"]
    assert "not signed (no ce_signature header)" in report.render()


async def test_an_agency_signing_with_another_key_fails_the_signature_check(kafka_bootstrap: str) -> None:
    registered = Ed25519PrivateKey.generate()
    async with reference_agency(kafka_bootstrap, private_key=Ed25519PrivateKey.generate()) as code:
        report = await run_contract_kit(
            kafka_bootstrap, code, registered.public_key(), timeout_s=45, settle_s=1
        )
    assert [check.name for check in report.checks if not check.passed] == ["signature"]
    assert "does not match the report and the agency's registered key" in report.render()


async def test_an_agency_that_answers_wrongly_fails_the_scenarios_it_gets_wrong(kafka_bootstrap: str) -> None:
    # Returns the result without ever reporting it ready: the bus would refuse `processing → returned`.
    report = await kit_against(
        kafka_bootstrap, signing_key=Ed25519PrivateKey.generate(), steps=("processing", "returned")
    )
    failed = {check.name: check for check in report.checks if not check.passed}
    assert set(failed) == {"happy path", "malformed input", "redelivery"}
    assert "reported processing → returned; expected processing → result_ready" in "\n".join(
        failed["happy path"].details
    )


async def careless_agency(bootstrap: str, code: str, key: Ed25519PrivateKey, *, fresh_ids: bool) -> None:
    """Reports the right statuses, signed, but with a new random report id each time (`fresh_ids`), or
    else keyed by a random id and without the trace context."""
    inbox, reports = agency_topics(code)
    consumer = AIOKafkaConsumer(inbox, bootstrap_servers=bootstrap, group_id=f"agency.{code}",
                                auto_offset_reset="earliest", fetch_max_wait_ms=20)  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        async for record in consumer:
            headers = header_map(record.headers)
            if headers.get("ce_type") != "vn.gov.dossierbus.dossier.assigned.v1":
                continue
            try:
                assigned = parse_assignment(record.value, headers)
            except Unprocessable:
                continue
            for status in scripted_statuses(assigned, code) or DEFAULT_STEPS:
                dossier_key, value, report_headers = build_report(assigned, code, status, headers, key)
                if fresh_ids:
                    text = {name: raw.decode() for name, raw in report_headers} | {"ce_id": str(uuid.uuid4())}
                    text["ce_signature"] = sign(key, text, value)
                    sent = [(name, raw.encode()) for name, raw in text.items()]
                    await producer.send_and_wait(reports, value, key=dossier_key, headers=sent)
                    continue
                untraced = [(name, raw) for name, raw in report_headers if name != "traceparent"]
                await producer.send_and_wait(reports, value, key=uuid.uuid4().bytes, headers=untraced)
    finally:
        await consumer.stop()
        await producer.stop()


async def test_reports_with_the_wrong_key_and_no_trace_are_named(kafka_bootstrap: str) -> None:
    code = f"kit-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, agency_topics(code), partitions=2)
    key = Ed25519PrivateKey.generate()
    report = await kit_against_careless(kafka_bootstrap, code, key, fresh_ids=False)
    assert [check.name for check in report.checks if not check.passed] == list(SCENARIOS)
    details = "\n".join(report.check("happy path").details)
    assert "the Kafka key is" in details
    assert "does not continue the assignment's trace" in details
    assert report.check("signature").passed


async def kit_against_careless(
    bootstrap: str, code: str, key: Ed25519PrivateKey, *, fresh_ids: bool
) -> KitReport:
    agency = asyncio.create_task(careless_agency(bootstrap, code, key, fresh_ids=fresh_ids))
    try:
        # The careless agency never satisfies the scenarios: the kit waits out its whole timeout.
        return await run_contract_kit(bootstrap, code, key.public_key(), timeout_s=20, settle_s=1.5)
    finally:
        agency.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await agency


async def test_answering_a_redelivered_assignment_with_new_report_ids_fails(kafka_bootstrap: str) -> None:
    code = f"kit-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, agency_topics(code), partitions=2)
    report = await kit_against_careless(kafka_bootstrap, code, Ed25519PrivateKey.generate(), fresh_ids=True)
    assert [check.name for check in report.checks if not check.passed] == ["redelivery"]
    assert "got processing again with a new ce_id" in "\n".join(report.check("redelivery").details)


async def test_an_agency_that_never_answers_fails_within_the_timeout(kafka_bootstrap: str) -> None:
    code = f"kit-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, agency_topics(code), partitions=1)
    report = await run_contract_kit(
        kafka_bootstrap, code, Ed25519PrivateKey.generate().public_key(), timeout_s=3, settle_s=1
    )
    assert all(not check.passed for check in report.checks)
    assert "no valid report within 3 s" in report.render()


async def test_an_agency_that_is_not_onboarded_is_named(kafka_bootstrap: str) -> None:
    with pytest.raises(LookupError, match=r"agency\.kit-missing-agency\.reports does not exist"):
        await run_contract_kit(
            kafka_bootstrap, "kit-missing-agency", Ed25519PrivateKey.generate().public_key(), timeout_s=1
        )


def test_reference_agency_signatures_verify_with_the_bus_verifier() -> None:
    key = Ed25519PrivateKey.generate()
    assignment = {
        "dossier_id": str(uuid.uuid4()),
        "dossier_code": "000.00.01.H26-261126-0001",
        "step": "issue",
        "form": {SCENARIO_FIELD: "[justice-hanoi: rejects]"},
    }
    inbox = {"ce_id": str(uuid.uuid4())}
    _, value, headers = build_report(assignment, "justice-hanoi", "rejected", inbox, key)
    text = {name: raw.decode() for name, raw in headers}
    verify(key.public_key(), text, value, now=datetime.now(UTC), max_age=timedelta(minutes=1))
    assert json.loads(value)["note"]
