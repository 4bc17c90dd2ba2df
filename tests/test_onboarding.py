"""An integrator onboards a new agency while the bus runs, without touching code: the registry creates its
topics and issues its key; routing assigns it the dossiers it declared it handles, consumes its reports
and verifies them with its key; the dossier completes. Everything real: processes, broker, database."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import birth_registration, submit, wait_final
from dossierbus_devstack.stack import OTHER_RECEIVING_UNITS, DevStack
from reference_agency.agency import result_host, run_agency

pytestmark = pytest.mark.slow

BIRTH = "1.001193"


async def test_an_agency_onboarded_at_runtime_gets_its_dossiers_and_its_signed_reports_apply(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    code = f"justice-danang-{uuid.uuid4().hex[:6]}"
    unit = OTHER_RECEIVING_UNITS[0]
    onboarded = await stack.onboard(
        code=code,
        identifier="000.00.01.H48",
        name={"vi": "Phòng Tư pháp (Đà Nẵng)", "en": "Civil status office, Da Nang"},
        sector="justice",
        handles=[{"procedure_code": BIRTH, "step": "birth-registration", "receiving_unit": unit}],
        result_domains=[result_host(code)],
    )
    private_key_pem = onboarded["credentials"]["private_key_pem"]
    agency_token = {"Authorization": f"Bearer {onboarded['credentials']['api_token']}"}

    async def routing_knows_the_agency() -> None:
        """Routing has re-read the directory (every 2 s in the development stack): the agency's token is
        known there, as are the steps it handles."""
        anyone = await http.get(stack.url("routing", f"/dossiers/{unit}-000000-0000"), headers=agency_token)
        assert anyone.status_code != 401, "routing has not read the new agency from the directory yet"

    stop = asyncio.Event()
    agency = asyncio.create_task(
        run_agency(stack.kafka_bootstrap, code, private_key_pem=private_key_pem, stop=stop)
    )
    try:
        await eventually(routing_knows_the_agency)
        in_danang = await submit(http, stack, birth_registration(31) | {"receiving_unit": unit})
        in_hanoi = await submit(http, stack, birth_registration(32))
        danang = await wait_final(http, stack, in_danang["dossier_code"], timeout_s=90)
        hanoi = await wait_final(http, stack, in_hanoi["dossier_code"])
    finally:
        stop.set()
        await agency

    assert in_danang["dossier_code"].startswith(f"{unit}-")
    assert (danang["status"], danang["agency_code"]) == ("returned", code)
    reports = [entry for entry in danang["timeline"] if entry["agency_code"] == code]
    assert [entry["status"] for entry in reports if entry["event"] == "status-changed"] == [
        "processing",
        "result_ready",
        "returned",
    ]
    assert all(entry["outcome"] == "applied" for entry in reports), reports
    # The catalogue's agency keeps the dossiers of the units the new agency did not declare.
    assert (hanoi["status"], hanoi["agency_code"]) == ("returned", "justice-hanoi")
