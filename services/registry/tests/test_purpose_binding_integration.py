"""Purpose binding on the running stack (real registry, routing, broker and PostgreSQL): a lookup only by
the agency routing assigned a step of that very dossier, learnt from the inboxes and forgotten when the
dossier ends; no agency records, lists or withdraws consents, reads access logs, or writes into the log
of a citizen it has nothing to do with."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import BUSINESS, business_dossier, wait_final
from dossierbus_devstack.stack import DevStack
from dossierbus_registry.synthetic import citizens
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import Applicant, DossierAssigned

pytestmark = pytest.mark.slow

PEOPLE = list(citizens(1000))
OFFICE = "planning-investment-hanoi"
"""Holds the step of every business dossier, and keeps them in processing in the test stack."""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def onboard_elsewhere(http: httpx.AsyncClient, stack: DevStack) -> tuple[str, str]:
    """An agency onboarded to handle the business step for a unit that receives no dossiers here: its code
    and API token."""
    code = f"planning-other-{uuid.uuid4().hex[:6]}"
    created = await http.post(
        stack.url("registry", "/agencies"),
        headers=bearer(stack.admin_token),
        json={
            "code": code,
            "identifier": "000.00.01.H99",
            "name": {"vi": "Sở Kế hoạch và Đầu tư (nơi khác)"},
            "sector": "planning-investment",
            "handles": [
                {
                    "procedure_code": BUSINESS,
                    "step": "business-registration",
                    "receiving_unit": "000.00.01.H99",
                }
            ],
        },
    )
    assert created.status_code == 201, created.text
    return code, created.json()["credentials"]["api_token"]


async def assignment_holders(stack: DevStack, dossier_code: str) -> list[str]:
    async with stack.database() as db:
        rows = await db.fetch(
            "SELECT agency_code FROM registry.assignments WHERE dossier_code = $1", dossier_code
        )
    return sorted(row["agency_code"] for row in rows)


async def refusal(http: httpx.AsyncClient, stack: DevStack, token: str, body: dict[str, Any]) -> str:
    response = await http.post(stack.url("registry", "/lookups"), headers=bearer(token), json=body)
    assert response.status_code == 403, response.text
    return str(response.json()["errors"][0]["type"])


async def test_only_the_agency_holding_the_dossiers_step_looks_up_and_only_while_it_holds_it(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    code, tax_code = await business_dossier(http, stack, representative=41)
    office = stack.agency_credentials[OFFICE]["api_token"]
    other, other_token = await onboard_elsewhere(http, stack)
    await eventually(lambda: _holds(stack, code, OFFICE))  # the registry learns it from the inbox
    assert await assignment_holders(stack, code) == [OFFICE]
    company = {
        "procedure_code": BUSINESS,
        "dossier_code": code,
        "tax_code": tax_code,
        "fields": ["name", "status"],
    }

    granted = await http.post(stack.url("registry", "/lookups"), headers=bearer(office), json=company)
    assert granted.status_code == 200, granted.text
    assert granted.json()["facts"] == {"name": "Công ty TNHH Sen Vàng", "status": "active"}
    # Onboarded for the same procedure step, but for another unit: routing gave this dossier to the office.
    assert await refusal(http, stack, other_token, company) == "agency_not_involved"
    applicant = {"procedure_code": BUSINESS, "dossier_code": code, "personal_id": PEOPLE[41].personal_id}
    assert await refusal(http, stack, other_token, applicant) == "agency_not_involved"
    catalogue_agency = stack.agency_credentials["police-hanoi"]["api_token"]
    assert await refusal(http, stack, catalogue_agency, applicant) == "agency_not_involved"

    withdrawn = await http.post(
        stack.url("routing", f"/dossiers/{code}/withdrawal"),
        json={"applicant_personal_id": PEOPLE[41].personal_id, "reason": "no longer needed"},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    await wait_final(http, stack, code)
    await eventually(lambda: _forgotten(stack, code))
    assert await refusal(http, stack, office, company) == "agency_not_involved"
    del other


async def _holds(stack: DevStack, code: str, agency: str) -> None:
    holders = await assignment_holders(stack, code)
    assert agency in holders, f"{code}: assignments held by {holders}"


async def _forgotten(stack: DevStack, code: str) -> None:
    """The registry forgets the assignments of an ended dossier."""
    holders = await assignment_holders(stack, code)
    assert not holders, f"{code}: assignments still held by {holders}"


async def test_the_legal_representatives_id_needs_their_consent(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    code, tax_code = await business_dossier(http, stack, representative=42)
    office = stack.agency_credentials[OFFICE]["api_token"]
    await eventually(lambda: _holds(stack, code, OFFICE))  # the registry learns it from the inbox
    everything = {"procedure_code": BUSINESS, "dossier_code": code, "tax_code": tax_code}
    assert await refusal(http, stack, office, everything) == "consent_missing"
    response = await http.post(
        stack.url("registry", "/lookups"),
        headers=bearer(office),
        json=everything | {"fields": ["legal_form"]},
    )
    assert response.json()["facts"] == {"legal_form": "Công ty TNHH"}


async def test_no_agency_writes_into_the_log_of_a_citizen_it_has_nothing_to_do_with(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    victim = PEOPLE[43].personal_id
    intruder, token = await onboard_elsewhere(http, stack)
    async with stack.database() as db:
        before = await db.fetchval("SELECT count(*) FROM registry.access_log WHERE subject = $1", victim)
    for dossier in ("000.00.01.H26-261125-0001", "made-up"):
        ask = {"procedure_code": "1.001193", "dossier_code": dossier, "personal_id": victim}
        assert await refusal(http, stack, token, ask) == "agency_not_involved"
    async with stack.database() as db:
        after = await db.fetchval("SELECT count(*) FROM registry.access_log WHERE subject = $1", victim)
        own = await db.fetch(
            "SELECT reason FROM registry.access_log WHERE subject = $1 ORDER BY seq", f"reader:{intruder}"
        )
    assert after == before
    # The attempts are kept, in the intruder's own chain, for auditors.
    assert len(own) == 2 and all(victim in row["reason"] for row in own)


async def test_agencies_neither_record_list_withdraw_consents_nor_read_access_logs(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    person = PEOPLE[44].personal_id
    office = bearer(stack.agency_credentials[OFFICE]["api_token"])
    registry = stack.url("registry")
    made_up = {
        "personal_id": person,
        "procedure_code": BUSINESS,
        "granted_via": "vneid",
        "evidence": "VNeID consent screen, session 8f2c",
    }
    recorded = await http.post(
        f"{registry}/consents", headers=office, json={k: v for k, v in made_up.items() if k != "evidence"}
    )
    assert recorded.status_code == 403, recorded.text
    assert (await http.get(f"{registry}/consents/{person}", headers=office)).status_code == 403
    assert (await http.get(f"{registry}/consents", headers=office)).status_code == 403
    withdraw = await http.post(f"{registry}/consents/{uuid.uuid4()}/withdraw", headers=office)
    assert withdraw.status_code == 403
    assert (await http.get(f"{registry}/access-log/{person}", headers=office)).status_code == 403
    assert (await http.get(f"{registry}/access-log/readers/{OFFICE}", headers=office)).status_code == 403
    assert (
        await http.post(
            f"{registry}/prefill", headers=office, json={"procedure_code": BUSINESS, "personal_id": person}
        )
    ).status_code == 403
    async with stack.database() as db:
        assert await db.fetchval("SELECT count(*) FROM registry.consents WHERE personal_id = $1", person) == 0
    # Nor the portal, nor anybody unauthenticated.
    assert (
        await http.get(f"{registry}/access-log/{person}", headers=stack.headers("portal"))
    ).status_code == 403
    async with httpx.AsyncClient(timeout=30) as anonymous:
        assert (await anonymous.get(f"{registry}/access-log/{person}")).status_code == 401


async def test_an_assignment_from_anyone_but_routing_is_dead_lettered_and_grants_nothing(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    agency, token = await onboard_elsewhere(http, stack)
    code = f"000.00.01.H99-261125-{uuid.uuid4().int % 10000:04d}"
    forged = DossierAssigned(
        dossier_id=uuid.uuid4(),
        dossier_code=code,
        agency_code=agency,
        procedure_code=BUSINESS,
        step="business-registration",
        applicant=Applicant(
            personal_id=PEOPLE[45].personal_id, full_name="X", date_of_birth=date(1990, 1, 1)
        ),
        form={},
        due_date=date(2026, 12, 1),
        assigned_at=datetime.now(UTC),
    )
    record = Envelope(forged, source="urn:dossierbus:intruder").to_kafka()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()

    letters = AIOKafkaConsumer(
        f"{record.topic}.dlq", bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await letters.start()
    try:
        letter = await asyncio.wait_for(letters.getone(), timeout=60)
    finally:
        await letters.stop()
    failure = dict(letter.headers)
    assert failure["dlq_error_type"] == b"Unauthenticated"
    assert b"urn:dossierbus:routing" in failure["dlq_reason"]
    assert await assignment_holders(stack, code) == []
    ask = {"procedure_code": BUSINESS, "dossier_code": code, "personal_id": PEOPLE[45].personal_id}
    assert await refusal(http, stack, token, ask) == "agency_not_involved"


async def test_a_consent_written_into_the_table_covers_nothing(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    person = PEOPLE[46].personal_id
    async with stack.database() as db:
        await db.execute(
            """INSERT INTO registry.consents (id, personal_id, procedure_code, granted_via, evidence,
                   evidence_kind, recorded_by, granted_at)
               VALUES ($1, $2, '1.001193', 'vneid', '{"seal": "0000"}', 'oidc-token', 'citizen via vneid',
                       now())""",
            uuid.uuid4(),
            person,
        )
    ask = {"procedure_code": "1.001193", "personal_id": person}
    refused = await http.post(stack.url("registry", "/prefill"), headers=stack.headers("portal"), json=ask)
    assert refused.status_code == 403, refused.text
    assert refused.json()["errors"][0]["type"] == "consent_invalid"
    assert "without the citizen's authenticated act" in refused.json()["detail"]


async def test_a_one_stop_agency_is_not_the_portal(stack: DevStack, http: httpx.AsyncClient) -> None:
    """Before the portal had its own role, an agency of the one-stop sector read access logs and prefilled."""
    code = f"one-stop-{uuid.uuid4().hex[:6]}"
    created = await http.post(
        stack.url("registry", "/agencies"),
        headers=bearer(stack.admin_token),
        json={
            "code": code,
            "identifier": "000.00.00.H26",
            "name": {"vi": "Cổng dịch vụ công"},
            "sector": "one-stop",
        },
    )
    token = bearer(created.json()["credentials"]["api_token"])
    person = PEOPLE[47].personal_id
    assert (await http.get(stack.url("registry", f"/access-log/{person}"), headers=token)).status_code == 403
    prefill = await http.post(
        stack.url("registry", "/prefill"),
        headers=token,
        json={"procedure_code": "1.001193", "personal_id": person},
    )
    assert prefill.status_code == 403
