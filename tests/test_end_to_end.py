"""The whole bus on real parts: Tansu (Kafka protocol), PostgreSQL, the four services as separate
processes, the reference agency and an SMTP server. One dossier flows through every service."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.mail import MailSink
from dossierbus_devstack.scenarios import birth_registration, submit, wait_final, wait_for_notifications
from dossierbus_devstack.stack import DevStack
from dossierbus_shared.dlq.replay import read_dead_letters
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierSubmitted

pytestmark = pytest.mark.slow


async def test_dossier_flows_through_every_service_on_one_trace(
    stack: DevStack, http: httpx.AsyncClient, mail: MailSink
) -> None:
    receipt = await submit(http, stack, birth_registration(0, email="mother@example.vn"))
    assert receipt["status"] == "received"
    code = receipt["dossier_code"]
    assert code.startswith("000.00.01.H26-")

    dossier = await wait_final(http, stack, code)
    assert dossier["status"] == "returned"
    applied = [entry["status"] for entry in dossier["timeline"] if entry["event"] == "status-changed"]
    assert applied == ["accepted", "processing", "result_ready", "returned"]
    assert dossier["agency_code"] == "justice-hanoi"

    notifications = await wait_for_notifications(http, stack, code, count=4)
    assert [n["status"] for n in notifications] == ["delivered"] * 4
    subjects = [message["Subject"] for message in await mail.wait_for(code, count=4)]
    assert any("hẹn trả kết quả" in subject for subject in subjects)
    assert all(message["To"] == "mother@example.vn" for message in mail.for_dossier(code))

    spans = await stack.spans_for(code, until=lambda found: {"notifications", "routing"} <= services(found))
    assert {span["trace_id"] for span in spans} == {dossier["timeline"][0]["trace_id"]}
    assert services(spans) >= {"intake", "registry", "routing", "notifications"}
    names = {span["name"] for span in spans}
    # the agency hop is part of the trace: routing consumed the agency's reports within it
    assert "process agency.justice-hanoi.reports" in names
    assert "send agency.justice-hanoi.inbox" in names


async def test_same_idempotency_key_gives_one_dossier(stack: DevStack, http: httpx.AsyncClient) -> None:
    body = birth_registration(1)
    key = f"test-{uuid.uuid4()}"
    first = await http.post(stack.url("intake", "/dossiers"), json=body, headers={"Idempotency-Key": key})
    second = await http.post(stack.url("intake", "/dossiers"), json=body, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert (first.headers["Idempotent-Replayed"], second.headers["Idempotent-Replayed"]) == ("false", "true")

    changed = dict(body, channel="direct")
    conflict = await http.post(
        stack.url("intake", "/dossiers"), json=changed, headers={"Idempotency-Key": key}
    )
    assert conflict.status_code == 422
    assert conflict.json()["errors"][0]["field"] == "Idempotency-Key"

    dossier = await wait_final(http, stack, first.json()["dossier_code"])
    assert [entry["event"] for entry in dossier["timeline"]].count("submitted") == 1
    async with stack.database() as connection:
        count = await connection.fetchval(
            "SELECT count(*) FROM intake.dossiers WHERE idempotency_key = $1", key
        )
    assert count == 1


async def test_redelivered_event_has_one_effect(stack: DevStack, http: httpx.AsyncClient) -> None:
    """The same dossier.submitted event (same ce_id) delivered twice is processed once by every consumer."""
    receipt = await submit(http, stack, birth_registration(2))
    code = receipt["dossier_code"]
    await wait_final(http, stack, code)
    async with stack.database() as connection:
        row = await connection.fetchrow(
            "SELECT headers, payload, key FROM intake.outbox WHERE subject = $1", code
        )
    headers = [(name, value.encode()) for name, value in json.loads(row["headers"])]
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            DossierSubmitted.topic, value=row["payload"].encode(), key=row["key"].encode(), headers=headers
        )
        marker = await submit(http, stack, birth_registration(3))  # processed after the redelivery
    finally:
        await producer.stop()
    await wait_final(http, stack, marker["dossier_code"])
    await wait_for_notifications(http, stack, marker["dossier_code"], count=4)

    async with stack.database() as connection:
        lookups = await connection.fetchval(
            "SELECT count(*) FROM registry.access_log WHERE dossier_code = $1", code
        )
        verified = await connection.fetchval(
            "SELECT count(*) FROM registry.outbox WHERE subject = $1 AND event_type LIKE '%verified%'", code
        )
        receipts = await connection.fetchval(
            "SELECT count(*) FROM notifications.notifications"
            " WHERE dossier_code = $1 AND subject LIKE '%hẹn%'",
            code,
        )
    assert (lookups, verified, receipts) == (1, 1, 1)


async def test_malformed_events_are_dead_lettered_and_the_consumer_keeps_going(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    good = Envelope(DossierSubmitted.model_validate(_submitted_payload()), source="urn:test").to_kafka()
    missing_field = json.loads(good.value)
    del missing_field["applicant"]
    cases = {
        "bad-json": (good.headers, b"{not json"),
        "unknown-type": (
            _with_header(good.headers, "ce_type", "vn.gov.dossierbus.dossier.nonsense.v1"),
            good.value,
        ),
        "missing-field": (good.headers, json.dumps(missing_field).encode()),
    }
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        for name, (headers, value) in cases.items():
            tagged = _with_header(_with_header(headers, "ce_id", str(uuid.uuid4())), "test_case", name)
            await producer.send_and_wait(DossierSubmitted.topic, value=value, key=good.key, headers=tagged)
    finally:
        await producer.stop()

    receipt = await submit(http, stack, birth_registration(4))
    assert (await wait_final(http, stack, receipt["dossier_code"]))["status"] == "returned"

    async def each_dead_lettered() -> dict[str, str]:
        reasons: dict[str, str] = {}
        async for letter, _commit in read_dead_letters(stack.kafka_bootstrap, "dossier.submitted.dlq"):
            headers = dict((name, value.decode()) for name, value in letter.headers)
            if headers.get("test_case") and headers.get("dlq_consumer_group") == "dossierbus.registry":
                reasons[headers["test_case"]] = letter.failure["reason"]
        assert set(reasons) == set(cases), reasons
        return reasons

    reasons = await eventually(each_dead_lettered, interval_s=0.2)
    assert "not valid JSON" in reasons["bad-json"]
    assert "unknown event type" in reasons["unknown-type"]
    assert "applicant" in reasons["missing-field"] and "Field required" in reasons["missing-field"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda body: body["applicant"].pop("personal_id"), "applicant.personal_id"),
        (lambda body: body["applicant"].update(personal_id="12345"), "applicant.personal_id"),
        (lambda body: body["applicant"].update(date_of_birth="31/12/1990"), "applicant.date_of_birth"),
        (lambda body: body.update(procedure_code="9.999999"), "procedure_code"),
        (lambda body: body["form"].update(child_sex="unknown"), "form.child_sex"),
        (lambda body: body["form"].pop("place_of_birth"), "form.place_of_birth"),
        (lambda body: body["form"].update(favourite_colour="blue"), "form.favourite_colour"),
        (lambda body: body.update(channel="pigeon"), "channel"),
    ],
)
async def test_invalid_submission_gets_422_naming_the_field(
    stack: DevStack,
    http: httpx.AsyncClient,
    change,
    field,  # type: ignore[no-untyped-def]
) -> None:
    body = birth_registration(5)
    change(body)
    response = await http.post(
        stack.url("intake", "/dossiers"), json=body, headers={"Idempotency-Key": f"bad-{uuid.uuid4()}"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert field in [error["field"] for error in problem["errors"]]
    assert field in problem["detail"]


async def test_missing_idempotency_key_and_broken_json_are_refused(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    missing = await http.post(stack.url("intake", "/dossiers"), json=birth_registration(6))
    assert missing.status_code == 422
    assert "idempotency-key" in [error["field"] for error in missing.json()["errors"]]
    broken = await http.post(
        stack.url("intake", "/dossiers"),
        content=b'{"procedure_code": ',
        headers={"Idempotency-Key": f"bad-{uuid.uuid4()}", "content-type": "application/json"},
    )
    assert broken.status_code == 422
    assert broken.json()["errors"][0]["type"] == "json_invalid"


def services(spans: list[dict[str, object]]) -> set[str]:
    return {str(span["service"]).removeprefix("dossierbus-") for span in spans}


def _submitted_payload() -> dict[str, object]:
    body = birth_registration(7)
    return {
        "dossier_id": str(uuid.uuid4()),
        "dossier_code": "TEST-MALFORMED",
        "procedure_code": body["procedure_code"],
        "receiving_unit": "000.00.01.H26",
        "channel": "online",
        "applicant": body["applicant"],
        "form": body["form"],
        "submitted_at": "2026-11-25T03:00:00+00:00",
        "due_date": "2026-11-26",
    }


def _with_header(headers: list[tuple[str, bytes]], name: str, value: str) -> list[tuple[str, bytes]]:
    return [(n, v) for n, v in headers if n != name] + [(name, value.encode())]
