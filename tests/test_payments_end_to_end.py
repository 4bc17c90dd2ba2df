"""Fees and payment on the real stack: a dossier whose procedure has a fee waits in financial obligation
(national status 6), its applicant opens the payment at intake and pays through the payment platform's
simulator, the signed callback settles it, routing takes the dossier on and it is returned.

Written for when routing's side of payments lands (the catalogue's fees, the wait and the resume are on
another branch): until then no procedure has a fee, so it is skipped. PROCEDURE must then be one the
catalogue gives a fee, with a form like birth registration's (scenarios.birth_registration)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.payment_gateway import order_of
from dossierbus_devstack.scenarios import birth_registration, submit, wait_final
from dossierbus_devstack.stack import DevStack

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skip(reason="needs routing's side of payments (issue 12): run once it is merged"),
]

PROCEDURE = "1.001193"
APPLICANT = 66
"""A seeded citizen (scenarios.birth_registration) no other test submits for."""


async def test_a_dossier_with_a_fee_waits_is_paid_and_returned(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    body = birth_registration(APPLICANT)
    body["procedure_code"] = PROCEDURE
    code = (await submit(http, stack, body))["dossier_code"]
    applicant = {"Authorization": f"Bearer {await stack.citizen_token(body['applicant']['personal_id'])}"}

    async def owed() -> dict[str, Any]:
        response = await http.get(stack.url("intake", f"/dossiers/{code}/payment"), headers=applicant)
        assert response.status_code == 200, response.text
        payment: dict[str, Any] = response.json()
        assert payment["state"] == "awaiting_payment", payment
        return payment

    payment = await eventually(owed, timeout_s=60)
    assert payment["amount_vnd"] == sum(fee["fee_vnd"] for fee in payment["fees"]) > 0
    assert 6 in [item["payload"]["TrangThaiHoSo"] for item in await stack.national_portal.received(code)]
    routing = (await http.get(stack.url("routing", f"/dossiers/{code}"))).json()
    assert routing["status"] not in {"processing", "result_ready", "returned"}, "it waits for the payment"
    receipt = await http.get(stack.url("intake", f"/dossiers/{code}/receipt"), headers=applicant)
    assert receipt.status_code == 404, receipt.text

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
    assert receipt.json()["amount_vnd"] == payment["amount_vnd"]
    assert receipt.json()["fees"] == payment["fees"]

    dossier = await wait_final(http, stack, code, timeout_s=120)
    assert dossier["status"] == "returned", dossier
