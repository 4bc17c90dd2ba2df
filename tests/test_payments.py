"""Fees and payment on the real stack: a dossier whose procedure has a fee is accepted and held in
financial obligation (national status 6 at the portal's simulator, no step assigned, its clock paused,
the applicant told what to pay); the applicant opens the payment at intake and pays through the payment
platform's simulator; the signed callback settles it (receipt `BL-<code>`), intake publishes
`dossier.paid`, routing takes the dossier on and it runs to its result; the applicant gets the receipt's
letter."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.payment_gateway import order_of
from dossierbus_devstack.scenarios import birth_registration, submit, wait_final, wait_for_notifications
from dossierbus_devstack.stack import DevStack

pytestmark = pytest.mark.slow

PAYER = 71
"""A seeded citizen (scenarios.birth_registration) no other test submits for."""
RESIDENCE = "1.004194"
"""Permanent residence registration: 10,000 VND (an illustrative fee), one step at the police."""


async def test_a_dossier_with_a_fee_waits_is_paid_at_the_platform_and_runs_to_its_result(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    body = birth_registration(PAYER)
    body.update(
        procedure_code=RESIDENCE,
        form={"new_address": "Số 9, phường Hoàn Kiếm, Hà Nội", "residence_basis": "owned_home"},
    )
    code = str((await submit(http, stack, body))["dossier_code"])
    applicant = {"Authorization": f"Bearer {await stack.citizen_token(body['applicant']['personal_id'])}"}

    # Routing holds it; intake knows what is owed.
    async def held() -> dict[str, Any]:
        response = await http.get(stack.url("routing", f"/dossiers/{code}"))
        assert response.status_code == 200, response.text
        dossier: dict[str, Any] = response.json()
        assert dossier["status"] == "financial_obligation", dossier
        return dossier

    dossier = await eventually(held, timeout_s=60)
    fees = [{"step": "permanent-residence", "agency_code": "police-hanoi", "fee_vnd": 10_000}]
    assert (dossier["payment"]["state"], dossier["payment"]["amount_vnd"]) == ("requested", 10_000)
    assert dossier["payment"]["fees"] == fees
    assert [step["status"] for step in dossier["steps"]] == ["waiting"]
    assert dossier["deadline"]["paused"] is True
    await stack.national_portal.wait_for_codes(code, [1, 2, 6])

    async def owed() -> dict[str, Any]:
        response = await http.get(stack.url("intake", f"/dossiers/{code}/payment"), headers=applicant)
        assert response.status_code == 200, response.text
        payment: dict[str, Any] = response.json()
        assert payment["state"] == "awaiting_payment", payment
        return payment

    payment = await eventually(owed, timeout_s=60)
    assert (payment["amount_vnd"], payment["fees"]) == (10_000, fees)
    receipt = await http.get(stack.url("intake", f"/dossiers/{code}/receipt"), headers=applicant)
    assert receipt.status_code == 404, receipt.text

    # The applicant pays at the platform; its signed callback settles the payment.
    opened = await http.post(stack.url("intake", f"/dossiers/{code}/payment"), headers=applicant)
    assert opened.status_code == 200, opened.text
    assert opened.json()["state"] == "pending" and opened.json()["pay_url"], opened.text
    paid = await stack.payment_gateway.pay(order_of(opened.json()["pay_url"]))
    assert [callback["status"] for callback in paid["callbacks"]] == [200], paid

    async def settled() -> dict[str, Any]:
        response = await http.get(stack.url("intake", f"/dossiers/{code}/payment"), headers=applicant)
        settled_payment: dict[str, Any] = response.json()
        assert settled_payment["state"] == "paid", settled_payment
        return settled_payment

    settled_payment = await eventually(settled, timeout_s=30)
    assert settled_payment["receipt"]["number"] == f"BL-{code}"
    receipt = await http.get(stack.url("intake", f"/dossiers/{code}/receipt"), headers=applicant)
    assert receipt.status_code == 200, receipt.text
    assert (receipt.json()["amount_vnd"], receipt.json()["fees"]) == (10_000, fees)

    # Routing takes it on once intake's dossier.paid arrives.
    final = await wait_final(http, stack, code, timeout_s=120)
    assert final["status"] == "returned", final
    assert (final["payment"]["state"], final["payment"]["receipt_number"]) == ("paid", f"BL-{code}")
    assert final["deadline"]["paused"] is False
    events = [entry["event"] for entry in final["timeline"]]
    requested, taken, assigned = (events.index(name) for name in ("payment-requested", "paid", "assigned"))
    assert requested < taken < assigned, events
    await stack.national_portal.wait_for_codes(code, [1, 2, 6, 4, 9, 10])

    notifications = await wait_for_notifications(http, stack, code, count=4, timeout_s=60)
    subjects = [str(item["subject"]) for item in notifications if item["channel"] == "email"]
    assert any("Thông báo nộp phí, lệ phí / Fees to pay" in subject for subject in subjects), subjects
    assert any("Đã nhận phí, lệ phí / Fees received" in subject for subject in subjects), subjects
