"""Notifications on the running stack: the real notifications process, broker, PostgreSQL, registry and
SMTP server, and webhook receivers started here on free ports. Agencies are onboarded through the
registry API, so the notifications service finds their webhooks in its agency directory."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from dossierbus_devstack.endpoint import RecordingEndpoint
from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.mail import MailSink
from dossierbus_devstack.scenarios import birth_registration, submit
from dossierbus_devstack.stack import DevStack
from dossierbus_notifications.signature import EVENT_ID_HEADER, SIGNATURE_HEADER, verify
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierStatus, DossierStatusChanged

pytestmark = pytest.mark.slow


async def onboard_webhook_agency(
    http: httpx.AsyncClient, stack: DevStack, webhook_url: str
) -> tuple[str, str]:
    """A new agency with a webhook, once the notifications service knows it: (code, webhook secret)."""
    code = f"hook-{uuid.uuid4().hex[:8]}"
    onboarded = await stack.onboard(
        code=code,
        identifier="000.00.09.H26",
        name={"vi": "Hệ thống một cửa thử", "en": "Test agency system"},
        sector="justice",
        webhook_url=webhook_url,
    )

    async def known() -> None:
        webhooks = (
            await http.get(stack.url("notifications", "/webhooks"), headers=stack.headers("operator"))
        ).json()
        assert webhooks["signature"]["tolerance_s"] == 300
        assert any(agency["code"] == code for agency in webhooks["agencies"]), f"{code}'s webhook not known"

    await eventually(known)
    return code, str(onboarded["credentials"]["webhook_secret"])


def status_change(
    agency_code: str | None, status: DossierStatus = DossierStatus.PROCESSING, **ids: Any
) -> Envelope[DossierStatusChanged]:
    dossier_id = ids.get("dossier_id", uuid.uuid4())
    code = ids.get("dossier_code", f"000.00.01.H26-261126-{uuid.uuid4().int % 10**4:04d}")
    return Envelope(
        DossierStatusChanged(
            dossier_id=dossier_id,
            dossier_code=code,
            procedure_code="1.001193",
            previous_status=DossierStatus.ACCEPTED,
            status=status,
            agency_code=agency_code,
            step="birth-registration" if agency_code else None,
            due_date=date(2026, 12, 4),
            changed_at=datetime.now(UTC),
        ),
        source="urn:dossierbus:routing",
    )


async def publish(stack: DevStack, *envelopes: Envelope[Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        for envelope in envelopes:
            record = envelope.to_kafka()
            await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()


async def settled(
    http: httpx.AsyncClient, stack: DevStack, dossier_code: str, channel: str, *, status: str | None = None
) -> list[dict[str, Any]]:
    """The dossier's notifications on one channel once none is pending (or all have `status`)."""

    async def on_channel() -> list[dict[str, Any]]:
        response = await http.get(stack.url("notifications", f"/dossiers/{dossier_code}/notifications"))
        found = [n for n in response.json()["notifications"] if n["channel"] == channel]
        assert found, f"{dossier_code}: no {channel} notification yet"
        assert all(n["status"] == status if status else n["status"] != "pending" for n in found), found
        return found

    return await eventually(on_channel)


async def test_a_webhook_receiver_that_fails_twice_then_succeeds_gets_exactly_one_delivery(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    with RecordingEndpoint([500, 500]) as receiver:
        agency, secret = await onboard_webhook_agency(http, stack, f"{receiver.url}/hooks/dossierbus")
        event = status_change(agency)
        code = event.data.dossier_code
        await publish(stack, event)

        [delivery] = await settled(http, stack, code, "webhook")
        assert delivery["status"] == "delivered"
        assert delivery["recipient"] == agency
        assert delivery["attempts"] == 3
        assert [entry["outcome"] for entry in delivery["log"]] == ["failed", "failed", "delivered"]
        assert all("HTTP 500" in entry["error"] for entry in delivery["log"][:2])
        assert [entry["attempt"] for entry in delivery["log"]] == [1, 2, 3]

        attempts = await receiver.wait_for(3)
        assert [request.answered for request in attempts] == [500, 500, 200]
        for request in attempts:
            assert request.path == "/hooks/dossierbus"
            assert request.headers[EVENT_ID_HEADER] == str(event.id)
            verify(secret, request.body, request.headers[SIGNATURE_HEADER])  # raises if it does not verify
        assert [request.headers["X-Dossierbus-Delivery-Attempt"] for request in attempts] == ["1", "2", "3"]
        body = json.loads(attempts[-1].body)
        assert (body["id"], body["type"], body["subject"]) == (str(event.id), event.type, code)
        assert body["data"]["status"] == "processing" and body["data"]["agency_code"] == agency

        # The same event again (same id), then a marker behind it on the same topic: once the marker's
        # webhook is in, the redelivery has been consumed, and it sent nothing.
        marker = status_change(agency)
        await publish(stack, event, marker)
        await settled(http, stack, marker.data.dossier_code, "webhook", status="delivered")
        assert [json.loads(request.body)["id"] for request in receiver.requests[3:]] == [str(marker.id)]
        assert len(await settled(http, stack, code, "webhook")) == 1


async def test_redelivery_past_the_inbox_is_stopped_by_the_unique_key(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    """Even with its inbox record gone (a restored backup, say), an event notifies no one twice."""
    with RecordingEndpoint() as receiver:
        agency, _ = await onboard_webhook_agency(http, stack, f"{receiver.url}/hook")
        event = status_change(agency)
        await publish(stack, event)
        await settled(http, stack, event.data.dossier_code, "webhook", status="delivered")
        async with stack.database() as db:
            forgotten = await db.execute("DELETE FROM notifications.inbox WHERE event_id = $1", event.id)
        assert forgotten == "DELETE 1"

        marker = status_change(agency)
        await publish(stack, event, marker)
        await settled(http, stack, marker.data.dossier_code, "webhook", status="delivered")

    assert [json.loads(request.body)["id"] for request in receiver.requests] == [
        str(event.id),
        str(marker.id),
    ]
    async with stack.database() as db:
        rows = await db.fetchval(
            "SELECT count(*) FROM notifications.notifications WHERE event_id = $1", event.id
        )
    assert rows == 1


async def test_a_webhook_that_keeps_failing_is_dead_lettered_then_requeued(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    with RecordingEndpoint(then=503) as receiver:
        agency, _ = await onboard_webhook_agency(http, stack, f"{receiver.url}/hook")
        event = status_change(agency)
        await publish(stack, event)

        [dead] = await settled(http, stack, event.data.dossier_code, "webhook")
        assert dead["status"] == "dead"
        assert dead["attempts"] == 5  # DELIVERY_MAX_ATTEMPTS
        assert [entry["outcome"] for entry in dead["log"]] == ["failed"] * 5
        assert "HTTP 503" in dead["last_error"]
        letters = (
            await http.get(
                stack.url("notifications", "/deliveries?status=dead&channel=webhook"),
                headers=stack.headers("operator"),
            )
        ).json()
        assert dead["id"] in [letter["id"] for letter in letters["deliveries"]]
        emails = (
            await http.get(
                stack.url("notifications", "/deliveries?status=dead&channel=email"),
                headers=stack.headers("operator"),
            )
        ).json()
        assert dead["id"] not in [letter["id"] for letter in emails["deliveries"]]
        assert len(receiver.requests) == 5

        receiver.answer_from_now(200)
        requeued = await http.post(
            stack.url("notifications", f"/deliveries/{dead['id']}/requeue"), headers=stack.headers("operator")
        )
        assert requeued.status_code == 202, requeued.text
        assert requeued.json()["status"] == "pending"
        [delivered] = await settled(http, stack, event.data.dossier_code, "webhook")

    assert delivered["status"] == "delivered"
    assert delivered["attempts"] == 6
    assert [entry["outcome"] for entry in delivered["log"]] == ["failed"] * 5 + ["delivered"]
    again = await http.post(
        stack.url("notifications", f"/deliveries/{dead['id']}/requeue"), headers=stack.headers("operator")
    )
    assert again.status_code == 409
    assert "delivered" in again.json()["detail"]


async def test_delivery_queries_refuse_bad_input_naming_the_field(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    for query, field in [("status=gone", "status"), ("channel=pigeon", "channel"), ("limit=0", "limit")]:
        response = await http.get(
            stack.url("notifications", f"/deliveries?{query}"), headers=stack.headers("operator")
        )
        assert response.status_code == 422, query
        assert response.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in response.json()["errors"]] == [field]
    missing = await http.post(
        stack.url("notifications", "/deliveries/987654321/requeue"), headers=stack.headers("operator")
    )
    assert missing.status_code == 404


async def test_a_vietnamese_email_arrives_with_its_subject_and_body_intact(
    stack: DevStack, http: httpx.AsyncClient, mail: MailSink
) -> None:
    receipt = await submit(http, stack, birth_registration(8, email="nguoi.viet@example.vn"))
    code = receipt["dossier_code"]
    [receipt_mail] = await mail.wait_for(code, count=1, subject_containing="Receipt")
    subject = "Giấy tiếp nhận hồ sơ và hẹn trả kết quả / Receipt and appointment"
    assert str(receipt_mail["Subject"]) == f"[{code}] {subject}"
    assert "Hồ sơ" in receipt_mail.get_content()


async def test_email_in_the_applicants_language_and_withdrawal_is_told(
    stack: DevStack, http: httpx.AsyncClient, mail: MailSink
) -> None:
    body = birth_registration(7, email="english.speaker@example.vn")
    body["applicant"]["language"] = "en"
    receipt = await submit(http, stack, body)
    code = receipt["dossier_code"]

    [first] = await mail.wait_for(code, count=1, subject_containing="Receipt")
    assert first["Subject"] == f"[{code}] Receipt and appointment"
    assert first["To"] == "english.speaker@example.vn"
    assert "Hồ sơ" not in first.get_content()

    withdrawn = status_change(
        None, DossierStatus.WITHDRAWN, dossier_id=uuid.UUID(receipt["dossier_id"]), dossier_code=code
    )
    await publish(stack, withdrawn)
    told = await mail.wait_for(code, count=1, subject_containing="withdrawn")
    assert [str(m["Subject"]) for m in told] == [f"[{code}] Your dossier has been withdrawn"]
    assert told[0]["Message-ID"] == f"<{withdrawn.id}.email@dossierbus>"
