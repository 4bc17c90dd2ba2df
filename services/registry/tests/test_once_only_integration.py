"""Purpose-bound lookups, the citizen's consent, the portal's prefill, the access log as the citizen and
auditors read it, onboarding and the once-only rate, on the running stack: real registry process,
PostgreSQL and broker."""

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

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import (
    BUSINESS,
    birth_registration,
    business_dossier,
    enterprise_of,
    submit,
    wait_final,
)
from dossierbus_devstack.stack import DevStack
from dossierbus_registry.agencies import new_key_pair
from dossierbus_registry.synthetic import citizens

pytestmark = pytest.mark.slow

PEOPLE = list(citizens(1000))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def credentials_for(http: httpx.AsyncClient, stack: DevStack, code: str) -> str:
    """The API token the stack issued a catalogue agency (issuing a new one would change its key)."""
    return stack.agency_credentials[code]["api_token"]


async def onboard(http: httpx.AsyncClient, stack: DevStack, **body: Any) -> httpx.Response:
    return await http.post(stack.url("registry", "/agencies"), json=body, headers=bearer(stack.admin_token))


async def one_stop_agency(http: httpx.AsyncClient, stack: DevStack) -> str:
    """An agency of the one-stop sector: before the portal had its own role, it could prefill."""
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
    async with httpx.AsyncClient(timeout=30) as anonymous:
        unauthenticated = await anonymous.post(stack.url("registry", "/agencies"), json=body)
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
    secret_url = stack.url("registry", f"/agencies/{code}/webhook-secret")
    assert (await http.get(secret_url, headers=bearer(stack.admin_token))).status_code == 401
    secret = await http.get(secret_url, headers=bearer(stack.webhook_secrets_token))
    assert secret.json()["webhook_secret"] == issued["webhook_secret"]
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
    citizen = bearer(await stack.citizen_token(person))
    lookups = stack.url("registry", "/lookups")
    ask = {"procedure_code": BUSINESS, "dossier_code": code, "personal_id": person}

    async def refusal(token: str, body: dict[str, Any]) -> str:
        response = await http.post(lookups, headers=bearer(token), json=body)
        assert response.status_code == 403, response.text
        return str(response.json()["errors"][0]["type"])

    async def missing_consent() -> None:
        assert await refusal(office, ask) == "consent_missing"

    await eventually(missing_consent)  # once the registry has read the assignment on the office's inbox
    consent = await http.post(
        stack.url("registry", "/consents"),
        headers=citizen,
        json={"procedure_code": BUSINESS, "dossier_code": code, "granted_via": "vneid"},
    )
    assert consent.status_code == 201, consent.text
    given = consent.json()
    consent_id = given["consent_id"]
    assert given["personal_id"] == person and given["evidence_kind"] == "oidc-token"
    assert given["evidence"]["personal_id"] == person and len(given["evidence"]["token_sha256"]) == 64

    granted = await http.post(lookups, headers=bearer(office), json=ask | {"consent_id": consent_id})
    assert granted.status_code == 200, granted.text
    assert granted.json()["facts"] == {
        "full_name": PEOPLE[11].full_name,
        "date_of_birth": PEOPLE[11].date_of_birth.isoformat(),
        "permanent_address": PEOPLE[11].permanent_address,
    }
    found = await http.post(lookups, headers=bearer(office), json=ask)  # the citizen's live consent
    assert found.status_code == 200 and found.json()["consent_id"] == consent_id
    enterprise = await http.post(
        lookups,
        headers=bearer(office),
        json={"procedure_code": BUSINESS, "dossier_code": code, "tax_code": tax_code},
    )
    assert enterprise.json()["facts"]["legal_representative_id"] == person

    assert await refusal(office, ask | {"fields": ["full_name", "sex"]}) == "fields_beyond_purpose"
    assert await refusal(police, ask) == "agency_not_involved"
    assert await refusal(office, ask | {"dossier_code": "000.00.01.H26-000000-9999"}) == "agency_not_involved"
    assert await refusal(office, ask | {"personal_id": PEOPLE[12].personal_id}) == "not_the_dossier_subject"
    assert await refusal(office, ask | {"consent_id": str(uuid.uuid4())}) == "consent_invalid"

    withdraw_url = stack.url("registry", f"/consents/{consent_id}/withdraw")
    assert (await http.post(withdraw_url, headers=bearer(office))).status_code == 403
    other = bearer(await stack.citizen_token(PEOPLE[12].personal_id))
    assert (await http.post(withdraw_url, headers=other)).status_code == 404  # not theirs to know
    withdrawn = await http.post(withdraw_url, headers=citizen)
    assert withdrawn.json()["withdrawn_at"] is not None
    assert await refusal(office, ask | {"consent_id": consent_id}) == "consent_invalid"
    assert await refusal(office, ask) == "consent_missing"
    listed = await http.get(stack.url("registry", "/consents"), headers=citizen)
    assert [c["consent_id"] for c in listed.json()["consents"]] == [consent_id]
    assert (await http.get(stack.url("registry", f"/consents/{person}"), headers=other)).status_code == 403

    log_url = stack.url("registry", f"/access-log/{person}")
    log = await http.get(log_url, headers=citizen)
    assert log.status_code == 200, log.text
    assert log.json()["chain"]["intact"] is True
    mine = [e for e in log.json()["entries"] if e["dossier_code"] == code and e["agency_code"] != "registry"]
    # Refusals naming another dossier or another person are in the office's own chain, not this one.
    assert [entry["outcome"] for entry in mine][-6:] == [
        "granted",
        "granted",
        "refused",
        "refused",
        "refused",
        "refused",
    ]
    assert mine[-6]["fields"] == ["date_of_birth", "full_name", "permanent_address"]
    assert "withdrawn" in mine[-2]["reason"]
    audited = await http.get(log_url, headers=stack.headers("auditor"))
    assert audited.json()["entries"] == log.json()["entries"]
    for reader in (stack.headers("portal"), bearer(office), other):
        assert (await http.get(log_url, headers=reader)).status_code == 403
    refused = await http.get(
        stack.url("registry", "/access-log/readers/planning-investment-hanoi"),
        headers=stack.headers("auditor"),
    )
    assert any(PEOPLE[12].personal_id in (entry["reason"] or "") for entry in refused.json()["entries"])


async def test_no_lookup_for_a_closed_dossier(stack: DevStack, http: httpx.AsyncClient) -> None:
    receipt = await submit(http, stack, birth_registration(13))
    await wait_final(http, stack, receipt["dossier_code"])
    justice = await credentials_for(http, stack, "justice-hanoi")
    ask = {
        "procedure_code": "1.001193",
        "dossier_code": receipt["dossier_code"],
        "personal_id": PEOPLE[13].personal_id,
    }

    held = "SELECT count(*) FROM registry.assignments WHERE dossier_code = $1"

    async def refused() -> httpx.Response:
        response = await http.post(stack.url("registry", "/lookups"), headers=bearer(justice), json=ask)
        assert response.status_code == 403, response.text
        async with stack.database() as db:
            assert await db.fetchval(held, receipt["dossier_code"]) == 0, "the assignment is still held"
        return response

    # The registry closes the dossier and forgets the assignment when it reads the final status change;
    # a lookup says which of the two it met first (each query sees what was committed when it ran).
    response = await eventually(refused)
    detail = response.json()["detail"]
    assert "holds no assigned step" in detail or detail.endswith(" is closed"), detail


async def test_prefill_is_the_portals_with_the_citizens_consent_and_feeds_the_once_only_rate(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    portal = stack.headers("portal")
    person = PEOPLE[14]
    ask = {"procedure_code": "1.001193", "personal_id": person.personal_id}
    prefill_url = stack.url("registry", "/prefill")
    refused = await http.post(prefill_url, headers=portal, json=ask)
    assert refused.status_code == 403 and refused.json()["errors"][0]["type"] == "consent_missing"
    # Only the portal's role prefills: not an agency of the one-stop sector, not an agency, not a citizen.
    citizen = bearer(await stack.citizen_token(person.personal_id))
    for other in (bearer(await one_stop_agency(http, stack)), citizen):
        assert (await http.post(prefill_url, headers=other, json=ask)).status_code == 403
    # Nor does the portal record a consent: the citizen does, with her own eID token.
    by_portal = await http.post(
        stack.url("registry", "/consents"), headers=portal, json={"procedure_code": "1.001193"}
    )
    assert by_portal.status_code == 403
    consent = await http.post(
        stack.url("registry", "/consents"), headers=citizen, json={"procedure_code": "1.001193"}
    )
    assert consent.status_code == 201, consent.text
    prefilled = await http.post(prefill_url, headers=portal, json=ask)
    assert prefilled.status_code == 200, prefilled.text
    assert prefilled.json()["consent_id"] == consent.json()["consent_id"]
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
    metrics = (await http.get(stack.url("registry", "/metrics"))).text
    assert 'dossierbus_once_only_fields_total{procedure_code="1.001193",source="national"}' in metrics

    unknown = dict(body, prefilled=["form.favourite_colour"])
    response = await http.post(
        stack.url("intake", "/dossiers"), json=unknown, headers={"Idempotency-Key": f"t-{uuid.uuid4()}"}
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "prefilled"


async def test_a_business_prefill_by_tax_code_withholds_the_representative_without_consent(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    tax_code = await enterprise_of(stack, 15)
    prefill_url = stack.url("registry", "/prefill")
    ask = {"procedure_code": BUSINESS, "tax_code": tax_code}
    refused = await http.post(prefill_url, headers=stack.headers("portal"), json=ask)
    assert refused.status_code == 403, refused.text
    assert refused.json()["errors"][0]["type"] == "consent_missing"
    assert PEOPLE[15].personal_id not in refused.text
    public = await http.post(
        prefill_url, headers=stack.headers("portal"), json=ask | {"fields": ["name", "status"]}
    )
    assert public.status_code == 200 and public.json()["facts"] == {
        "name": "Công ty TNHH Sen Vàng",
        "status": "active",
    }
    citizen = bearer(await stack.citizen_token(PEOPLE[15].personal_id))
    consent = await http.post(
        stack.url("registry", "/consents"), headers=citizen, json={"procedure_code": BUSINESS}
    )
    assert consent.status_code == 201, consent.text
    given = await http.post(prefill_url, headers=stack.headers("portal"), json=ask)
    assert given.status_code == 200, given.text
    assert given.json()["facts"]["legal_representative_id"] == PEOPLE[15].personal_id
    log = await http.get(stack.url("registry", f"/access-log/{PEOPLE[15].personal_id}"), headers=citizen)
    assert log.json()["entries"][-1] | {"at": None, "seq": None, "hash": None} == {
        "at": None,
        "seq": None,
        "hash": None,
        "agency_code": "portal",
        "procedure_code": BUSINESS,
        "dossier_code": None,
        "consent_id": consent.json()["consent_id"],
        "fields": ["legal_representative_id"],
        "outcome": "granted",
        "reason": f"as legal representative of {tax_code}",
    }


def registry_cli(stack: DevStack, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "dossierbus-registry"), "agency", *args]
    command += ["--registry-url", stack.url("registry"), f"--admin-token={stack.admin_token}"]
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
