"""Agencies' deadline requests on the real stack: an extension of the due date (form 04) reaches the
dossier, its timeline, the Decision 766 projection (still judged by the original date) and the citizen's
mailbox; a supplement request with a deadline that passes unanswered gets the dossier refused by routing,
its agency told and the citizen notified. Every rule behind them is a unit test of the `Dossier`
aggregate (services/routing/tests/test_deadline_requests_unit.py).

The citizen has at least one working day to supplement: the test moves the stored last day into the past
(as the overdue test moves a due date) rather than waiting days."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.mail import MailSink
from dossierbus_devstack.scenarios import birth_registration, submit
from dossierbus_devstack.stack import DevStack
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    DossierDeadlineExtended,
    DossierExtensionRequested,
    DossierStatus,
    DossierStatusChanged,
    DossierStatusReported,
    DossierStepCancelled,
    Event,
)
from reference_agency.agency import load_signing_key, signature

pytestmark = pytest.mark.slow

AGENCY, STEP = "justice-hanoi", "birth-registration"
E = TypeVar("E", bound=Event)
HOLDS = f"Bệnh viện Phụ sản Hà Nội [{AGENCY}: holds]"  # the reference agency stops after `processing`


async def test_an_extension_and_a_refusal_after_a_missed_supplement_deadline(
    stack: DevStack, http: httpx.AsyncClient, mail: MailSink
) -> None:
    extended_code, extended_id = await held_dossier(stack, http, 40)
    refused_code, refused_id = await held_dossier(stack, http, 41)

    # --- the extension ---------------------------------------------------------------------------------
    before = await view(http, stack, extended_code)
    original = date.fromisoformat(before["due_date"])
    new_due = vietnam_calendar().add_working_days(original, 2)
    await send(
        stack,
        DossierExtensionRequested(
            dossier_id=uuid.UUID(extended_id),
            dossier_code=extended_code,
            agency_code=AGENCY,
            step=STEP,
            due_date=new_due,
            reason="Cần xác minh thêm với cơ quan công an",
            requested_at=datetime.now(UTC),
        ),
    )
    extended = await wait_until(http, stack, extended_code, lambda d: d["deadline"]["extensions"] == 1)
    assert extended["status"] == "processing"
    assert extended["due_date"] == new_due.isoformat()
    assert extended["deadline"]["original_due_date"] == original.isoformat()
    [entry] = entries(extended, "deadline-extended")
    assert entry["agency_code"] == AGENCY and entry["trace_id"]
    assert f"due date moved from {original.isoformat()} to {new_due.isoformat()}" in entry["note"]
    [published] = await outbox_events(stack, DossierDeadlineExtended, extended_id)
    assert (published.previous_due_date, published.due_date, published.original_due_date) == (
        original,
        new_due,
        original,
    )
    [letter] = await mail.wait_for(extended_code, 1, subject_containing="Apology and new appointment")
    body = letter.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Mẫu 04" in body and "form 04" in body and "Cần xác minh thêm với cơ quan công an" in body
    assert new_due.strftime("%d/%m/%Y") in body and new_due.isoformat() in body
    # The national portal is told the new date: the same status again, with it.
    synced = await stack.national_portal.wait_for_codes(extended_code, [1, 2, 4, 4])
    dates = [item["payload"]["NgayKetThucTheoQuyDinh"] for item in synced[-2:]]
    assert dates == [original.isoformat(), new_due.isoformat()]

    # A second request beyond the ceiling (10 working days in all by default) is refused and recorded.
    too_far = vietnam_calendar().add_working_days(new_due, 9)
    await send(
        stack,
        DossierExtensionRequested(
            dossier_id=uuid.UUID(extended_id),
            dossier_code=extended_code,
            agency_code=AGENCY,
            step=STEP,
            due_date=too_far,
            reason="Thêm thời gian",
            requested_at=datetime.now(UTC),
        ),
    )
    refusal = await wait_until(http, stack, extended_code, lambda d: bool(entries(d, "extension-refused")))
    assert (
        "adds 9 working day(s) to the 2 already granted" in entries(refusal, "extension-refused")[0]["note"]
    )
    assert refusal["due_date"] == new_due.isoformat()

    # The result comes: the status change carries both dates and Decision 766 judges by the original.
    await send(stack, report(extended_code, extended_id, DossierStatus.RESULT_READY))
    await wait_until(http, stack, extended_code, lambda d: d["status"] == "result_ready")
    async with stack.database() as connection:
        judged = await eventually(
            lambda: judged_due_date(connection, extended_id), timeout_s=20, interval_s=0.2
        )
    assert judged == original

    # --- the missed supplement deadline --------------------------------------------------------------
    await send(
        stack,
        report(
            refused_code,
            refused_id,
            DossierStatus.SUPPLEMENT_REQUESTED,
            note="Thiếu giấy chứng sinh",
            supplement_deadline_working_days=1,
        ),
    )
    waiting = await wait_until(http, stack, refused_code, lambda d: d["status"] == "supplement_requested")
    last_day = vietnam_calendar().add_working_days(vietnam_calendar().local_date(datetime.now(UTC)), 1)
    assert waiting["steps"][0]["supplement_due_date"] == last_day.isoformat()
    [asked] = await mail.wait_for(refused_code, 1, subject_containing="needs additional documents")
    assert "Please send them by the end of" in asked.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]

    async with stack.database() as connection:  # the last day is past (no waiting for days)
        await connection.execute(
            "UPDATE routing.steps SET supplement_due_date = current_date - 1 WHERE dossier_id = $1",
            uuid.UUID(refused_id),
        )
    refused = await wait_until(http, stack, refused_code, lambda d: d["status"] == "rejected", timeout_s=30)
    assert [(step["step"], step["status"]) for step in refused["steps"]] == [(STEP, "cancelled")]
    note = entries(refused, "status-changed")[-1]["note"]
    assert note.startswith(f"refused automatically: the supplement asked for at step '{STEP}'")
    changes = await outbox_events(stack, DossierStatusChanged, refused_id)
    assert (changes[-1].status, changes[-1].national_status) == (DossierStatus.REJECTED, 8)
    [cancelled] = await outbox_events(stack, DossierStepCancelled, refused_id)
    assert (cancelled.agency_code, cancelled.reason) == (AGENCY, note)
    [told] = await mail.wait_for(refused_code, 1, subject_containing="not supplemented in time")
    assert "bị từ chối" in told.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


# --- helpers -------------------------------------------------------------------------------------------


async def held_dossier(stack: DevStack, http: httpx.AsyncClient, index: int) -> tuple[str, str]:
    """A birth registration its agency holds in `processing`: its code and id."""
    body = birth_registration(index)
    body["form"]["place_of_birth"] = HOLDS
    code = (await submit(http, stack, body))["dossier_code"]
    dossier = await wait_until(http, stack, code, lambda d: d["status"] == "processing")
    return code, dossier["dossier_id"]


async def view(http: httpx.AsyncClient, stack: DevStack, code: str) -> dict[str, Any]:
    response = await http.get(stack.url("routing", f"/dossiers/{code}"))
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


async def wait_until(
    http: httpx.AsyncClient,
    stack: DevStack,
    code: str,
    until: Callable[[dict[str, Any]], bool],
    timeout_s: float = 60,
) -> dict[str, Any]:
    async def seen() -> dict[str, Any]:
        dossier = await view(http, stack, code)
        assert until(dossier), f"dossier {code}: condition not met; last seen: {dossier}"
        return dossier

    return await eventually(seen, timeout_s=timeout_s)


def entries(dossier: dict[str, Any], event: str) -> list[dict[str, Any]]:
    return [entry for entry in dossier["timeline"] if entry["event"] == event]


def report(code: str, dossier_id: str, status: DossierStatus, **extra: Any) -> DossierStatusReported:
    return DossierStatusReported(
        dossier_id=uuid.UUID(dossier_id),
        dossier_code=code,
        agency_code=AGENCY,
        step=STEP,
        status=status,
        reported_at=datetime.now(UTC),
        **extra,
    )


async def send(stack: DevStack, event: DossierStatusReported | DossierExtensionRequested) -> None:
    """Sent as the agency sends it: on its reports topic, signed with its key."""
    record = Envelope(event, source=f"urn:agency:{AGENCY}").to_kafka()
    headers = {name: value.decode() for name, value in record.headers}
    headers["ce_signature"] = signature(load_signing_key(stack.agency_keys[AGENCY]), headers, record.value)
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


async def outbox_events(stack: DevStack, kind: type[E], dossier_id: str) -> list[E]:
    """What routing published of this type about the dossier, once relayed to Kafka, in order."""

    async def relayed() -> list[E]:
        async with stack.database() as connection:
            rows = await connection.fetch(
                "SELECT payload, sent_at FROM routing.outbox WHERE event_type = $1 ORDER BY id", kind.type
            )
        mine = [
            (kind.model_validate_json(row["payload"]), row["sent_at"])
            for row in rows
            if str(kind.model_validate_json(row["payload"]).dossier_id) == dossier_id
        ]
        assert mine and all(sent for _, sent in mine), f"no {kind.type} relayed for {dossier_id}"
        return [event for event, _ in mine]

    return await eventually(relayed, timeout_s=20, interval_s=0.2)


async def judged_due_date(connection: Any, dossier_id: str) -> date:
    row = await connection.fetchrow(
        "SELECT due_date, ended_status FROM routing.indicator_dossiers WHERE dossier_id = $1",
        uuid.UUID(dossier_id),
    )
    assert row is not None and row["ended_status"] == "result_ready", row
    judged: date = row["due_date"]
    return judged
