"""Routing workflows on real parts, one of each kind: a linked procedure across three agencies, a rejection
as the procedure says, the citizen's supplement and withdrawal, the paused clock, an overdue dossier and
refused reports. Every variant of them is a unit test of the `Dossier` aggregate
(services/routing/tests/test_dossier_unit.py).

The reference agencies follow a "[<agency>: <behaviour>]" marker in the form (see reference_agency)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import birth_registration, linked_birth, submit, wait_final
from dossierbus_devstack.stack import DevStack
from dossierbus_routing.domain import check_transition
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierOverdue, DossierStatus, DossierStatusReported
from reference_agency.agency import load_signing_key, signature

pytestmark = pytest.mark.slow

BIRTH_GROUP_STEPS = [
    ("birth-registration", "justice-hanoi"),
    ("permanent-residence", "police-hanoi"),
    ("health-insurance-card", "social-insurance-hanoi"),
    ("identity-card", "police-hanoi"),
]


async def wait_until(
    http: httpx.AsyncClient,
    stack: DevStack,
    code: str,
    until: Callable[[dict[str, Any]], bool],
    timeout_s: float = 60,
) -> dict[str, Any]:
    """The routing view of the dossier once `until` holds for it."""

    async def seen() -> dict[str, Any]:
        response = await http.get(stack.url("routing", f"/dossiers/{code}"))
        assert response.status_code == 200, response.text
        dossier: dict[str, Any] = response.json()
        assert until(dossier), f"dossier {code}: condition not met; last seen: {dossier}"
        return dossier

    return await eventually(seen, timeout_s=timeout_s)


def statuses_changed(dossier: dict[str, Any]) -> list[str]:
    return [entry["status"] for entry in dossier["timeline"] if entry["event"] == "status-changed"]


def entries(dossier: dict[str, Any], event: str) -> list[dict[str, Any]]:
    return [entry for entry in dossier["timeline"] if entry["event"] == event]


def steps_of(dossier: dict[str, Any]) -> dict[str, tuple[str | None, str]]:
    return {step["step"]: (step["agency_code"], step["status"]) for step in dossier["steps"]}


def assert_legal_path(statuses: list[str]) -> None:
    for previous, following in zip(["received", *statuses], statuses, strict=False):
        check_transition(DossierStatus(previous), DossierStatus(following), by_agency=False)


# --- linked procedures --------------------------------------------------------------------------------


async def test_linked_birth_group_runs_across_three_agencies(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    receipt = await submit(http, stack, linked_birth(20))
    dossier = await wait_final(http, stack, receipt["dossier_code"])

    assert dossier["status"] == "returned"
    # The appointment date on the citizen's receipt is the deadline routing keeps.
    assert dossier["deadline"]["appointment_date"] == receipt["appointment_date"] == dossier["due_date"]
    # So is whether that date is provisional (a year without an announced holiday schedule).
    assert dossier["deadline"]["deadline_provisional"] is receipt["deadline_provisional"]
    assert [(step["step"], step["agency_code"], step["status"]) for step in dossier["steps"]] == [
        (step, agency, "returned") for step, agency in BIRTH_GROUP_STEPS
    ]
    assert all(step["result_documents"] for step in dossier["steps"])
    # Birth registration first; the other three only once the birth certificate exists.
    timeline = dossier["timeline"]
    assigned = [(entry["step"], entry["agency_code"]) for entry in entries(dossier, "assigned")]
    assert assigned[0] == ("birth-registration", "justice-hanoi")
    assert sorted(assigned[1:]) == sorted(BIRTH_GROUP_STEPS[1:])
    birth_ready = next(
        index
        for index, entry in enumerate(timeline)
        if entry["step"] == "birth-registration" and entry["status"] == "result_ready"
    )
    later = {entry["step"] for entry in timeline[birth_ready:] if entry["event"] == "assigned"}
    assert later == {step for step, _ in BIRTH_GROUP_STEPS[1:]}
    # The dossier as a whole: taken over by the next agencies, then one result once every step has one.
    changed = statuses_changed(dossier)
    assert changed[:3] == ["accepted", "processing", "transferred"]
    assert changed[-2:] == ["result_ready", "returned"]
    assert_legal_path(changed)
    # Every entry has its time and trace; every step entry its agency.
    assert all(entry["at"] and entry["trace_id"] for entry in timeline)
    assert all(entry["agency_code"] for entry in timeline if entry["step"])


async def test_rejection_at_a_parallel_step_ends_that_step_alone(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    """The birth group says `continue` for the health insurance card: the other results still come."""
    body = linked_birth(22, "Bệnh viện Phụ sản Hà Nội [social-insurance-hanoi: rejects]")
    dossier = await wait_final(http, stack, (await submit(http, stack, body))["dossier_code"])

    assert dossier["status"] == "returned"
    assert steps_of(dossier) == {
        "birth-registration": ("justice-hanoi", "returned"),
        "permanent-residence": ("police-hanoi", "returned"),
        "health-insurance-card": ("social-insurance-hanoi", "rejected"),
        "identity-card": ("police-hanoi", "returned"),
    }
    refused = [entry for entry in entries(dossier, "step-changed") if entry["status"] == "rejected"]
    assert [(entry["step"], entry["agency_code"]) for entry in refused] == [
        ("health-insurance-card", "social-insurance-hanoi")
    ]
    assert_legal_path(statuses_changed(dossier))


# --- the citizen's supplement and the paused clock ----------------------------------------------------


async def test_supplement_pauses_the_clock_and_resumes_it_moving_the_due_date(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    body = birth_registration(24)
    body["form"]["place_of_birth"] = "Bệnh viện Phụ sản Hà Nội [justice-hanoi: asks for a supplement]"
    code = (await submit(http, stack, body))["dossier_code"]
    paused = await wait_until(http, stack, code, lambda d: d["status"] == "supplement_requested")
    assert paused["deadline"]["paused"] is True
    assert paused["deadline"]["supplement_requests"] == 1
    due_before = datetime.fromisoformat(paused["due_date"]).date()
    assert paused["deadline"]["appointment_date"] == paused["due_date"]

    # The citizen takes two weeks: the pause began 14 days ago.
    async with stack.database() as connection:
        paused_since = await connection.fetchval(
            "UPDATE routing.dossiers SET paused_since = paused_since - interval '14 days'"
            " WHERE code = $1 RETURNING paused_since",
            code,
        )
    calendar = vietnam_calendar()
    expected_days = calendar.working_days_between(
        calendar.local_date(paused_since), calendar.local_date(datetime.now(UTC))
    )
    assert expected_days >= 8  # two weeks hold at least eight working days in any year

    url = stack.url("routing", f"/dossiers/{code}/supplement")
    stranger = await http.post(url, json={"applicant_personal_id": "001099999999", "note": "x"})
    assert stranger.status_code == 403
    assert stranger.json()["errors"][0]["field"] == "applicant_personal_id"

    applicant = body["applicant"]["personal_id"]
    unknown = await http.post(url, json={"applicant_personal_id": applicant, "step": "passport"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "step"
    assert "has no step 'passport'" in unknown.json()["detail"]
    document = {"name": "giay-chung-sinh.pdf", "url": "https://portal.example/uploads/1.pdf"}
    sent = await http.post(
        url, json={"applicant_personal_id": applicant, "note": "Giấy chứng sinh", "documents": [document]}
    )
    assert sent.status_code == 200, sent.text
    resumed = sent.json()
    assert resumed["status"] == "processing"
    assert resumed["deadline"]["paused"] is False
    assert resumed["deadline"]["paused_working_days"] == expected_days
    assert resumed["due_date"] == calendar.add_working_days(due_before, expected_days).isoformat()
    assert resumed["deadline"]["appointment_date"] == due_before.isoformat()
    moved = entries(resumed, "clock-resumed")
    assert len(moved) == 1
    assert f"clock paused for {expected_days} working day(s)" in moved[0]["note"]

    again = await http.post(url, json={"applicant_personal_id": applicant})
    assert again.status_code == 409
    assert "no step of this dossier waits for a supplement" in again.json()["detail"]

    # The agency heard of the supplement on its inbox and finished the dossier.
    inbox = await _events_for(stack.kafka_bootstrap, "agency.justice-hanoi.inbox", code, count=2)
    [supplemented] = [event for event in inbox if "supplemented_at" in event]
    assert supplemented["step"] == "birth-registration"
    assert supplemented["documents"] == [document | {"sha256": None}]
    assert supplemented["due_date"] == resumed["due_date"]
    final = await wait_final(http, stack, code)
    assert final["status"] == "returned"
    assert statuses_changed(final) == [
        "accepted",
        "processing",
        "supplement_requested",
        "processing",
        "result_ready",
        "returned",
    ]
    assert final["due_date"] == resumed["due_date"]


# --- overdue --------------------------------------------------------------------------------------


async def test_a_dossier_past_its_due_date_is_reported_overdue_once(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    body = birth_registration(25)
    body["form"]["place_of_birth"] = "Bệnh viện Phụ sản Hà Nội [justice-hanoi: holds]"
    code = (await submit(http, stack, body))["dossier_code"]
    await wait_until(http, stack, code, lambda d: d["status"] == "processing")

    async with stack.database() as connection:
        await connection.execute(
            "UPDATE routing.dossiers SET due_date = current_date - 3 WHERE code = $1", code
        )
    dossier = await wait_until(http, stack, code, lambda d: d["deadline"]["overdue"], timeout_s=20)
    assert dossier["status"] == "processing"
    [overdue] = entries(dossier, "overdue")
    assert overdue["trace_id"]
    assert "open: birth-registration@justice-hanoi" in overdue["note"]

    events = await _events_for(stack.kafka_bootstrap, DossierOverdue.topic, code)
    assert len(events) == 1
    assert events[0]["open_steps"] == ["birth-registration@justice-hanoi"]
    assert events[0]["status"] == "processing"

    await asyncio.sleep(2.5)  # at least two more scans
    later = (await http.get(stack.url("routing", f"/dossiers/{code}"))).json()
    assert len(entries(later, "overdue")) == 1
    assert len(await _events_for(stack.kafka_bootstrap, DossierOverdue.topic, code)) == 1


# --- refused reports and withdrawal -------------------------------------------------------------------


async def test_illegal_reports_are_refused_and_recorded_and_the_citizen_may_withdraw(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    body = birth_registration(26)
    body["form"]["place_of_birth"] = "Bệnh viện Phụ sản Hà Nội [justice-hanoi: holds]"
    code = (await submit(http, stack, body))["dossier_code"]
    held = await wait_until(http, stack, code, lambda d: d["status"] == "processing")
    dossier_id = held["dossier_id"]

    await _report(stack, dossier_id, code, "justice-hanoi", "birth-registration", "returned")
    await _report(stack, dossier_id, code, "justice-hanoi", "birth-registration", "withdrawn")
    await _report(stack, dossier_id, code, "police-hanoi", "birth-registration", "result_ready")
    dossier = await wait_until(http, stack, code, lambda d: len(entries(d, "report-refused")) == 3)

    refused = {(entry["agency_code"], entry["status"]): entry for entry in entries(dossier, "report-refused")}
    assert "step cannot move from 'processing' to 'returned'" in refused["justice-hanoi", "returned"]["note"]
    assert "an agency may not report status 'withdrawn'" in refused["justice-hanoi", "withdrawn"]["note"]
    assert "not assigned to agency 'police-hanoi'" in refused["police-hanoi", "result_ready"]["note"]
    assert all(entry["outcome"] == "refused" for entry in refused.values())
    assert dossier["status"] == "processing"  # nothing applied
    assert steps_of(dossier) == {"birth-registration": ("justice-hanoi", "processing")}

    url = stack.url("routing", f"/dossiers/{code}/withdrawal")
    applicant = body["applicant"]["personal_id"]
    invalid = await http.post(url, json={"applicant_personal_id": "12"})
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "applicant_personal_id"
    withdrawn = await http.post(url, json={"applicant_personal_id": applicant, "reason": "Nộp nhầm"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    assert steps_of(withdrawn.json()) == {"birth-registration": ("justice-hanoi", "cancelled")}
    assert entries(withdrawn.json(), "status-changed")[-1]["note"] == "withdrawn by the applicant: Nộp nhầm"

    inbox = await _events_for(stack.kafka_bootstrap, "agency.justice-hanoi.inbox", code, count=2)
    [cancelled] = [event for event in inbox if "cancelled_at" in event]
    assert (cancelled["step"], cancelled["reason"]) == (
        "birth-registration",
        "withdrawn by the applicant: Nộp nhầm",
    )

    again = await http.post(url, json={"applicant_personal_id": applicant})
    assert again.status_code == 409
    assert "cannot move from 'withdrawn' to 'withdrawn'" in again.json()["detail"]
    unknown = await http.post(
        stack.url("routing", "/dossiers/NOPE/withdrawal"), json={"applicant_personal_id": applicant}
    )
    assert unknown.status_code == 404

    # A report after the withdrawal is refused too.
    await _report(stack, dossier_id, code, "justice-hanoi", "birth-registration", "result_ready")
    final = await wait_until(http, stack, code, lambda d: len(entries(d, "report-refused")) == 4)
    assert "already 'withdrawn'" in entries(final, "report-refused")[-1]["note"]
    assert final["status"] == "withdrawn"


async def _report(stack: DevStack, dossier_id: str, code: str, agency: str, step: str, status: str) -> None:
    report = DossierStatusReported(
        dossier_id=uuid.UUID(dossier_id),
        dossier_code=code,
        agency_code=agency,
        step=step,
        status=DossierStatus(status),
        reported_at=datetime.now(UTC),
    )
    record = Envelope(report, source=f"urn:agency:{agency}").to_kafka()
    # Signed with the agency's key: these reports are refused for what they say, not who sent them.
    headers = {name: value.decode() for name, value in record.headers}
    headers["ce_signature"] = signature(load_signing_key(stack.agency_keys[agency]), headers, record.value)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            record.topic,
            value=record.value,
            key=record.key,
            headers=[(name, value.encode()) for name, value in headers.items()],
        )
    finally:
        await producer.stop()


async def _events_for(bootstrap: str, topic: str, code: str, count: int = 1) -> list[dict[str, Any]]:
    """The data of every event on `topic` whose subject is the dossier, once there are `count`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
    await consumer.start()

    async def on_the_topic() -> list[dict[str, Any]]:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not partitions:
            await consumer._client.force_metadata_update()
            raise AssertionError(f"no partitions of {topic} known yet")
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if await consumer.position(tp) < end[tp]}
        found: list[dict[str, Any]] = []
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    headers = {name: value.decode() for name, value in record.headers}
                    if headers.get("ce_subject") == code:
                        found.append(json.loads(record.value or b"{}"))
                    if record.offset + 1 >= end[tp]:
                        remaining.discard(tp)
        assert len(found) >= count, f"{len(found)} of {count} events of {code} on {topic}: {found}"
        return found

    try:
        return await eventually(on_the_topic, timeout_s=20, interval_s=0.3)
    finally:
        await consumer.stop()
