"""Fees on the real stack, routing's side: a dossier whose procedure has a fee is accepted and held in
financial obligation (national status 6 at the portal's simulator, no step assigned, the applicant told
what to pay); once `dossier.paid` arrives on `dossier.payments` (published here as intake's payment
platform side would), its step is assigned and it runs to its result, and the applicant gets the
receipt's number."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import birth_registration, submit, wait_final, wait_for_notifications
from dossierbus_devstack.stack import DevStack
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierPaid

pytestmark = pytest.mark.slow

PAYER = 71
"""A seeded citizen (scenarios.birth_registration) no other test submits for."""
RESIDENCE = "1.004194"
"""Permanent residence registration: 10,000 VND (an illustrative fee), one step at the police."""


async def test_a_dossier_with_fees_waits_for_its_payment_then_runs_to_its_result(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    body = birth_registration(PAYER)
    body.update(
        procedure_code=RESIDENCE,
        form={"new_address": "Số 9, phường Hoàn Kiếm, Hà Nội", "residence_basis": "owned_home"},
    )
    code = str((await submit(http, stack, body))["dossier_code"])

    async def held() -> dict[str, Any]:
        response = await http.get(stack.url("routing", f"/dossiers/{code}"))
        assert response.status_code == 200, response.text
        dossier: dict[str, Any] = response.json()
        assert dossier["status"] == "financial_obligation", dossier
        return dossier

    dossier = await eventually(held, timeout_s=60)
    payment = dossier["payment"]
    assert (payment["state"], payment["amount_vnd"], payment["national_status"]) == ("requested", 10_000, 6)
    assert payment["fees"] == [
        {"step": "permanent-residence", "agency_code": "police-hanoi", "fee_vnd": 10_000}
    ]
    assert [step["status"] for step in dossier["steps"]] == ["waiting"]
    assert dossier["deadline"]["paused"] is True
    await stack.national_portal.wait_for_codes(code, [1, 2, 6])

    # Intake's side (another branch) publishes this once the payment platform confirms the payment.
    paid = Envelope(
        DossierPaid(
            dossier_id=uuid.UUID(dossier["dossier_id"]),
            dossier_code=code,
            amount_vnd=10_000,
            receipt_number="BL-E2E-0001",
            payment_reference="PAY-E2E-0001",
            paid_at=datetime.now(UTC),
        ),
        source="urn:dossierbus:intake",
    ).to_kafka()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(DossierPaid.topic, value=paid.value, key=paid.key, headers=paid.headers)
    finally:
        await producer.stop()

    final = await wait_final(http, stack, code, timeout_s=120)
    assert final["status"] == "returned", final
    assert (final["payment"]["state"], final["payment"]["receipt_number"]) == ("paid", "BL-E2E-0001")
    assert final["deadline"]["paused"] is False
    events = [entry["event"] for entry in final["timeline"]]
    requested, taken, assigned = (events.index(name) for name in ("payment-requested", "paid", "assigned"))
    assert requested < taken < assigned, events
    assert final["steps"][0]["agency_code"] == "police-hanoi"
    await stack.national_portal.wait_for_codes(code, [1, 2, 6, 4, 9, 10])

    notifications = await wait_for_notifications(http, stack, code, count=4, timeout_s=60)
    subjects = [str(item["subject"]) for item in notifications if item["channel"] == "email"]
    assert any("Thông báo nộp phí, lệ phí / Fees to pay" in subject for subject in subjects), subjects
    assert any("Đã nhận phí, lệ phí / Fees received" in subject for subject in subjects), subjects
