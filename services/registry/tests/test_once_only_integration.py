"""Purpose-bound lookups, consent, prefill, the hash-chained access log, onboarding and the once-only
rate, on the running stack: real registry process, PostgreSQL and broker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from dossierbus_devstack.scenarios import birth_registration, submit, wait_final
from dossierbus_devstack.stack import DevStack
from dossierbus_registry.agencies import new_key_pair
from dossierbus_registry.synthetic import citizens
from dossierbus_shared.identifiers import tax_check_digit

pytestmark = pytest.mark.slow

PEOPLE = list(citizens(1000))
BUSINESS = "2.001610"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def credentials_for(http: httpx.AsyncClient, stack: DevStack, code: str) -> str:
    response = await http.post(
        stack.url("registry", f"/agencies/{code}/credentials"), json={}, headers=bearer(stack.admin_token)
    )
    assert response.status_code == 200, response.text
    return str(response.json()["credentials"]["api_token"])


async def onboard(http: httpx.AsyncClient, stack: DevStack, **body: Any) -> httpx.Response:
    return await http.post(stack.url("registry", "/agencies"), json=body, headers=bearer(stack.admin_token))


async def portal_token(http: httpx.AsyncClient, stack: DevStack) -> str:
    code = f"portal-{uuid.uuid4().hex[:8]}"
    response = await onboard(
        http,
        stack,
        code=code,
        identifier="000.00.00.H26",
        name={"vi": "Cổng dịch vụ công"},
        sector="one-stop",
    )
    assert response.status_code == 201, response.text
    return str(response.json()["credentials"]["api_token"])


async def enterprise_of(stack: DevStack, representative: int) -> str:
    """A fresh active enterprise in the reference business database, represented by that citizen."""
    check = None
    while check is None:  # about one prefix in eleven has no valid check digit
        prefix = f"01{uuid.uuid4().int % 10**7:07d}"
        check = tax_check_digit(prefix)
    tax_code = f"{prefix}{check}"
    async with stack.database() as db:
        await db.execute(
            """INSERT INTO registry.enterprises VALUES ($1, 'Công ty TNHH Sen Vàng', 'Công ty TNHH',
               $2, 'Số 5, phường Ba Đình, Hà Nội', '01', '2019-03-01', 'active')""",
            tax_code,
            PEOPLE[representative].personal_id,
        )
    return tax_code


async def business_dossier(http: httpx.AsyncClient, stack: DevStack, representative: int) -> tuple[str, str]:
    """A live business-registration-change dossier (the office keeps it in processing)."""
    tax_code = await enterprise_of(stack, representative)
    body = birth_registration(representative)
    body.update(
        procedure_code=BUSINESS,
        form={"tax_code": tax_code, "change": "head_office_address", "new_value": "Số 9, phường Hoàn Kiếm"},
    )
    code = str((await submit(http, stack, body))["dossier_code"])
    for _ in range(300):
        response = await http.get(stack.url("routing", f"/dossiers/{code}"))
        if response.status_code == 200 and response.json()["status"] == "processing":
            return code, tax_code
        await asyncio.sleep(0.1)
    raise AssertionError(f"{code} never reached processing: {response.text}")


async def test_onboarding_creates_topics_and_issues_credentials_once(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    code = f"justice-{uuid.uuid4().hex[:6]}"
    body = {
        "code": code,
        "identifier": "000.00.09.H26",
        "name": {"vi": "Phòng Tư pháp thử", "en": "Test civil status office"},
        "sector": "justice",
        "webhook_url": "https://agency.example.vn/hooks/dossierbus",
    }
    unauthenticated = await http.post(stack.url("registry", "/agencies"), json=body)
    assert unauthenticated.status_code == 401
    created = await onboard(http, stack, **body)
    assert created.status_code == 201, created.text
    issued = created.json()["credentials"]
    assert set(issued) == {"api_token", "webhook_secret", "private_key_pem"}
    assert issued["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")

    entry = (await http.get(stack.url("registry", f"/agencies/{code}"))).json()
    assert entry["inbox_topic"] == f"agency.{code}.inbox"
    assert entry["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert "api_token" not in entry and "webhook_secret" not in entry
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        topics = set(await admin.list_topics())
    finally:
        await admin.close()
    assert {f"agency.{code}.inbox", f"agency.{code}.reports", f"agency.{code}.reports.dlq"} <= topics

    assert (await onboard(http, stack, **body)).status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "Bad Code!"}, "code"),
        ({"public_key": "-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----"}, "public_key"),
        ({"handles": [{"procedure_code": "9.999999", "step": "x"}]}, "handles"),
        ({"name": {"en": "No Vietnamese name"}}, "name"),
    ],
)
async def test_onboarding_refuses_bad_input_naming_the_field(
    stack: DevStack, http: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {"code": f"x-{uuid.uuid4().hex[:6]}", "identifier": "1", "name": {"vi": "X"}, "sector": "justice"}
    response = await onboard(http, stack, **(body | change))
    assert response.status_code == 422
    assert any(error["field"].startswith(field) for error in response.json()["errors"]), response.json()


async def test_lookups_return_only_what_the_procedure_needs_and_refuse_the_rest(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    code, tax_code = await business_dossier(http, stack, representative=11)
    person = PEOPLE[11].personal_id
    office = await credentials_for(http, stack, "planning-investment-hanoi")
    police = await credentials_for(http, stack, "police-hanoi")
    lookups = stack.url("registry", "/lookups")
    consent = await http.post(
        stack.url("registry", "/consents"),
        headers=bearer(office),
        json={
            "personal_id": person,
            "procedure_code": BUSINESS,
            "dossier_code": code,
            "granted_via": "vneid",
            "evidence": "VNeID consent screen, session 8f2c",
        },
    )
    assert consent.status_code == 201, consent.text
    consent_id = consent.json()["consent_id"]
    ask = {"procedure_code": BUSINESS, "dossier_code": code, "personal_id": person, "consent_id": consent_id}

    granted = await http.post(lookups, headers=bearer(office), json=ask)
    assert granted.status_code == 200, granted.text
    assert granted.json()["facts"] == {
        "full_name": PEOPLE[11].full_name,
        "date_of_birth": PEOPLE[11].date_of_birth.isoformat(),
        "permanent_address": PEOPLE[11].permanent_address,
    }
    enterprise = await http.post(
        lookups,
        headers=bearer(office),
        json={"procedure_code": BUSINESS, "dossier_code": code, "tax_code": tax_code},
    )
    assert enterprise.json()["facts"]["legal_representative_id"] == person

    async def refusal(token: str, body: dict[str, Any]) -> str:
        response = await http.post(lookups, headers=bearer(token), json=body)
        assert response.status_code == 403, response.text
        return str(response.json()["errors"][0]["type"])

    assert await refusal(office, ask | {"fields": ["full_name", "sex"]}) == "fields_beyond_purpose"
    assert await refusal(police, ask) == "agency_not_involved"
    assert await refusal(office, ask | {"dossier_code": "000.00.01.H26-000000-9999"}) == "no_live_dossier"
    assert await refusal(office, ask | {"personal_id": PEOPLE[12].personal_id}) == "not_the_dossier_subject"
    assert await refusal(office, {k: v for k, v in ask.items() if k != "consent_id"}) == "consent_missing"
    assert await refusal(office, ask | {"consent_id": str(uuid.uuid4())}) == "consent_invalid"

    withdrawn = await http.post(
        stack.url("registry", f"/consents/{consent_id}/withdraw"), headers=bearer(office)
    )
    assert withdrawn.json()["withdrawn_at"] is not None
    assert await refusal(office, ask) == "consent_invalid"
    assert (await http.post(lookups, json=ask)).status_code == 401

    log = await http.get(
        stack.url("registry", f"/access-log/{person}"), headers=bearer(await portal_token(http, stack))
    )
    assert log.status_code == 200, log.text
    entries = log.json()["entries"]
    assert log.json()["chain"]["intact"] is True
    mine = [
        entry for entry in entries if entry["dossier_code"] == code and entry["agency_code"] != "registry"
    ]
    # the refusals naming another dossier or another person are in those chains, not this one
    assert [entry["outcome"] for entry in mine] == ["granted", *["refused"] * 5]
    assert mine[0]["fields"] == ["date_of_birth", "full_name", "permanent_address"]
    assert "withdrawn" in mine[-1]["reason"]
    assert (
        await http.get(stack.url("registry", f"/access-log/{person}"), headers=bearer(office))
    ).status_code == 403


async def test_no_lookup_for_a_closed_dossier(stack: DevStack, http: httpx.AsyncClient) -> None:
    receipt = await submit(http, stack, birth_registration(13))
    await wait_final(http, stack, receipt["dossier_code"])
    justice = await credentials_for(http, stack, "justice-hanoi")
    ask = {
        "procedure_code": "1.001193",
        "dossier_code": receipt["dossier_code"],
        "personal_id": PEOPLE[13].personal_id,
    }
    for _ in range(100):  # the registry closes it when it reads the final status change
        response = await http.post(stack.url("registry", "/lookups"), headers=bearer(justice), json=ask)
        if response.status_code == 403:
            break
        await asyncio.sleep(0.1)
    assert response.status_code == 403
    assert "is closed" in response.json()["detail"]


async def test_prefill_needs_consent_and_feeds_the_once_only_rate(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    portal = await portal_token(http, stack)
    person = PEOPLE[14]
    ask = {"procedure_code": "1.001193", "personal_id": person.personal_id}
    refused = await http.post(stack.url("registry", "/prefill"), headers=bearer(portal), json=ask)
    assert refused.status_code == 403 and refused.json()["errors"][0]["type"] == "consent_missing"
    consent = await http.post(
        stack.url("registry", "/consents"),
        headers=bearer(portal),
        json={
            **ask,
            "granted_via": "portal",
            "evidence": "checkbox 'use my data from the national database'",
        },
    )
    prefilled = await http.post(
        stack.url("registry", "/prefill"),
        headers=bearer(portal),
        json=ask | {"consent_id": consent.json()["consent_id"]},
    )
    assert prefilled.status_code == 200, prefilled.text
    facts = prefilled.json()["facts"]
    assert facts["full_name"] == person.full_name

    body = birth_registration(14)
    body["applicant"].update(full_name=facts["full_name"], date_of_birth=facts["date_of_birth"])
    body["prefilled"] = ["applicant.full_name", "applicant.date_of_birth"]
    code = (await submit(http, stack, body))["dossier_code"]
    await wait_final(http, stack, code)
    async with stack.database() as db:
        row = await db.fetchrow(
            "SELECT fields_from_national_data, fields_typed FROM registry.dossiers WHERE code = $1", code
        )
    # 3 facts the form never asked for + 2 prefilled, against the 5 form fields typed
    assert (row["fields_from_national_data"], row["fields_typed"]) == (5, 5)
    report = (
        await http.get(stack.url("registry", "/once-only"), params={"procedure_code": "1.001193"})
    ).json()
    assert 0 < report["procedures"][0]["once_only_rate"] < 1
    metrics = (await http.get(stack.url("registry", "/metrics/"))).text
    assert 'dossierbus_once_only_fields_total{procedure_code="1.001193",source="national"}' in metrics

    unknown = dict(body, prefilled=["form.favourite_colour"])
    response = await http.post(
        stack.url("intake", "/dossiers"), json=unknown, headers={"Idempotency-Key": f"t-{uuid.uuid4()}"}
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "prefilled"


async def test_the_access_log_is_append_only_and_its_chain_shows_tampering(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    person = PEOPLE[15].personal_id
    for index in range(3):
        await submit(http, stack, birth_registration(15))
        del index
    async with stack.database() as db:
        for _ in range(100):
            if await db.fetchval("SELECT count(*) FROM registry.access_log WHERE subject = $1", person) >= 3:
                break
            await asyncio.sleep(0.1)
        with pytest.raises(Exception, match="append-only"):
            await db.execute("UPDATE registry.access_log SET agency_code = 'x' WHERE subject = $1", person)
        with pytest.raises(Exception, match="append-only"):
            await db.execute("DELETE FROM registry.access_log WHERE subject = $1", person)
        portal = await portal_token(http, stack)
        url = stack.url("registry", f"/access-log/{person}")
        assert (await http.get(url, headers=bearer(portal))).json()["chain"]["intact"] is True
        # A superuser can bypass the trigger; the chain still tells.
        async with db.transaction():
            await db.execute("SET LOCAL session_replication_role = replica")
            await db.execute(
                "UPDATE registry.access_log SET agency_code = 'police-hanoi' WHERE subject = $1 AND seq = 2",
                person,
            )
    chain = (await http.get(url, headers=bearer(portal))).json()["chain"]
    assert chain == {
        "intact": False,
        "entries": 1,
        "first_broken": 2,
        "problem": "entry 2 was changed after it was written",
    }


def registry_cli(stack: DevStack, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "dossierbus-registry"), "agency", *args]
    command += ["--registry-url", stack.url("registry"), "--admin-token", stack.admin_token]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


async def test_an_integrator_onboards_an_agency_from_the_command_line(
    stack: DevStack, tmp_path: Path
) -> None:
    code = f"police-hue-{uuid.uuid4().hex[:4]}"
    key = tmp_path / "agency.pub"
    key.write_text(new_key_pair()[1])
    added = await asyncio.to_thread(
        registry_cli,
        stack,
        "add",
        "--code", code, "--identifier", "000.00.02.H46", "--name-vi", "Công an phường (Huế)",
        "--sector", "public-security", "--public-key", str(key),
        "--handles", "1.001193:birth-registration@000.00.01.H46",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    onboarded = json.loads(added.stdout)
    assert onboarded["agency"]["public_key"] == key.read_text().strip() + "\n"
    assert "private_key_pem" not in onboarded["credentials"]  # the agency keeps its own private key
    assert onboarded["agency"]["handles"] == [
        {"procedure_code": "1.001193", "step": "birth-registration", "receiving_unit": "000.00.01.H46"}
    ]
    listed = await asyncio.to_thread(registry_cli, stack, "list")
    assert code in [agency["code"] for agency in json.loads(listed.stdout)["agencies"]]

    wrong = await asyncio.to_thread(
        registry_cli, stack, "add", "--code", f"x-{code}", "--identifier", "1", "--name-vi", "X",
        "--sector", "justice", "--handles", "1.001193:no-such-step",
    )  # fmt: skip
    assert wrong.returncode == 1
    assert "has no step 'no-such-step'" in wrong.stderr and "Traceback" not in wrong.stderr
