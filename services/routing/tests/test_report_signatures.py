"""Agency reports are authenticated: routing applies a report only when it is signed with the key the
agency registered, recent, and not a signed report re-sent under a new id. On the running stack."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import business_dossier
from dossierbus_devstack.stack import DevStack
from dossierbus_registry.agencies import new_key_pair
from dossierbus_shared.dlq.replay import read_dead_letters
from reference_agency.agency import load_signing_key, result_host, signature

pytestmark = pytest.mark.slow

OFFICE = "planning-investment-hanoi"
REPORTED = "vn.gov.dossierbus.dossier.status-reported.v1"


def report(
    dossier: dict[str, Any],
    status: str,
    *,
    at: datetime | None = None,
    documents: list[dict[str, str]] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """An unsigned result report for the office's step of a live dossier: (value, headers)."""
    when = (at or datetime.now(UTC)).isoformat()
    value = json.dumps(
        {
            "dossier_id": dossier["dossier_id"],
            "dossier_code": dossier["dossier_code"],
            "agency_code": OFFICE,
            "step": dossier["step"],
            "status": status,
            "result_documents": documents or [],
            "reported_at": when,
        }
    ).encode()
    headers = {
        "ce_specversion": "1.0",
        "ce_id": str(uuid.uuid4()),
        "ce_source": f"urn:agency:{OFFICE}",
        "ce_type": REPORTED,
        "ce_time": when,
        "ce_subject": dossier["dossier_code"],
        "content-type": "application/json",
    }
    return value, headers


def signed(value: bytes, headers: dict[str, str], private_key_pem: str) -> dict[str, str]:
    return headers | {"ce_signature": signature(load_signing_key(private_key_pem), headers, value)}


async def send(
    stack: DevStack,
    dossier: dict[str, Any],
    value: bytes,
    headers: dict[str, str],
    *,
    topic: str = f"agency.{OFFICE}.reports",
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic,
            value=value,
            key=dossier["dossier_id"].encode(),
            headers=[(name, text.encode()) for name, text in headers.items()],
        )
    finally:
        await producer.stop()


async def entries_after(
    http: httpx.AsyncClient, stack: DevStack, code: str, seen: int, count: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The dossier and the timeline entries added after the first `seen`, once there are `count`."""

    async def added() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        dossier = (await http.get(stack.url("routing", f"/dossiers/{code}"))).json()
        new = dossier["timeline"][seen:]
        assert len(new) >= count, f"{code}: expected {count} new timeline entries: {new}"
        return dossier, new

    return await eventually(added)


async def test_forged_unsigned_stale_and_replayed_reports_are_refused_and_a_signed_one_applied(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    code, _ = await business_dossier(http, stack, representative=21)
    dossier = (await http.get(stack.url("routing", f"/dossiers/{code}"))).json()
    seen = len(dossier["timeline"])
    office_key = stack.agency_keys[OFFICE]
    forger_key, _ = new_key_pair()

    value, headers = report(dossier, "result_ready")
    genuine = signed(value, headers, office_key)
    attempts = [
        ("the signature does not match", value, signed(value, headers, forger_key)),
        ("not signed", value, headers),
        ("does not match", value.replace(b"result_ready", b"rejected"), genuine),  # altered in transit
        ("does not match", value, genuine | {"ce_id": str(uuid.uuid4())}),  # replayed as a new report
    ]
    stale_value, stale_headers = report(dossier, "result_ready", at=datetime.now(UTC) - timedelta(days=2))
    attempts.append(("more than", stale_value, signed(stale_value, stale_headers, office_key)))
    for _, attempt_value, attempt_headers in attempts:
        await send(stack, dossier, attempt_value, attempt_headers)

    dossier, refused = await entries_after(http, stack, code, seen, len(attempts))
    assert dossier["status"] == "processing"
    for (reason, *_), entry in zip(attempts, refused, strict=True):
        assert (entry["event"], entry["outcome"]) == ("report-refused", "refused"), entry
        assert entry["note"].startswith("unauthenticated report:") and reason in entry["note"], entry

    letters = [
        letter
        async for letter, _ in read_dead_letters(stack.kafka_bootstrap, f"agency.{OFFICE}.reports.dlq")
        if dict(letter.headers).get("ce_subject") == code.encode()
    ]
    assert [letter.failure["error_type"] for letter in letters] == ["Unauthenticated"] * len(attempts)

    # The forgeries carried the genuine report's id: refused, they did not spend it.
    await send(stack, dossier, value, genuine)
    dossier, applied = await entries_after(http, stack, code, seen + len(attempts), 1)
    assert dossier["status"] == "result_ready"
    assert (applied[0]["status"], applied[0]["outcome"]) == ("result_ready", "applied")


async def test_a_report_that_names_another_agency_than_its_signer_or_arrives_on_its_topic_is_refused(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    """The office's key verifies the office's reports only: one that claims another agency as its source,
    or that is slipped into another agency's topic, is refused though its signature is the office's."""
    code, _ = await business_dossier(http, stack, representative=22)
    dossier = (await http.get(stack.url("routing", f"/dossiers/{code}"))).json()
    seen = len(dossier["timeline"])
    office_key = stack.agency_keys[OFFICE]
    other = "justice-hanoi"

    value, headers = report(dossier, "result_ready")
    posing = headers | {"ce_source": f"urn:agency:{other}"}
    attempts = [
        ("does not match agency_code", signed(value, posing, office_key), f"agency.{OFFICE}.reports"),
        (
            "arrived on 'agency.justice-hanoi.reports'",
            signed(value, headers, office_key),
            f"agency.{other}.reports",
        ),
    ]
    for _, attempt_headers, topic in attempts:
        await send(stack, dossier, value, attempt_headers, topic=topic)

    dossier, refused = await entries_after(http, stack, code, seen, len(attempts))
    assert dossier["status"] == "processing"
    # Sent on two topics, so routing may read them in either order.
    for entry in refused:
        assert (entry["event"], entry["outcome"]) == ("report-refused", "refused"), entry
        assert entry["note"].startswith("unauthenticated report:"), entry
    notes = [entry["note"] for entry in refused]
    for reason, *_ in attempts:
        assert sum(reason in note for note in notes) == 1, (reason, notes)

    # Neither spent the report's id: the office's genuine report, on its own topic, is applied.
    await send(stack, dossier, value, signed(value, headers, office_key))
    dossier, applied = await entries_after(http, stack, code, seen + len(attempts), 1)
    assert (dossier["status"], applied[0]["outcome"]) == ("result_ready", "applied")


async def test_a_result_link_that_is_not_https_on_a_host_the_agency_registered_is_refused(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    """Result links go to the citizen: a signed report may only link to https on its agency's hosts."""
    code, _ = await business_dossier(http, stack, representative=23)
    dossier = (await http.get(stack.url("routing", f"/dossiers/{code}"))).json()
    seen = len(dossier["timeline"])
    office_key = stack.agency_keys[OFFICE]
    entry = (await http.get(stack.url("registry", f"/agencies/{OFFICE}"))).json()
    assert entry["result_domains"] == [result_host(OFFICE)]

    links = [
        ("javascript:alert(document.cookie)", "is not an https URL"),
        (f"http://{result_host(OFFICE)}/r.pdf", "is not an https URL"),
        ("https://results.evil.example/r.pdf", "is not on a domain the agency registered"),
        (f"https://{result_host('justice-hanoi')}/r.pdf", "is not on a domain the agency registered"),
    ]
    for url, _ in links:
        value, headers = report(dossier, "result_ready", documents=[{"name": "result.pdf", "url": url}])
        await send(stack, dossier, value, signed(value, headers, office_key))

    dossier, refused = await entries_after(http, stack, code, seen, len(links))
    assert dossier["status"] == "processing"
    assert all(step["result_documents"] == [] for step in dossier["steps"])
    for (url, reason), entry in zip(links, refused, strict=True):
        assert (entry["event"], entry["outcome"]) == ("report-refused", "refused"), entry
        assert reason in entry["note"] and url[:30] in entry["note"], entry

    good = f"https://{result_host(OFFICE)}/results/{code}.pdf"
    value, headers = report(dossier, "result_ready", documents=[{"name": "result.pdf", "url": good}])
    await send(stack, dossier, value, signed(value, headers, office_key))
    dossier, applied = await entries_after(http, stack, code, seen + len(links), 1)
    assert (dossier["status"], applied[0]["outcome"]) == ("result_ready", "applied")
    assert [document["url"] for step in dossier["steps"] for document in step["result_documents"]] == [good]


async def test_an_agency_registers_its_result_hosts_at_onboarding_and_an_operator_changes_them(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    code = f"justice-hue-{uuid.uuid4().hex[:6]}"
    onboarded = await stack.onboard(
        code=code,
        identifier="000.00.03.H46",
        name={"vi": "Sở Tư pháp (Huế)"},
        sector="justice",
        result_domains=["KetQua.TuPhap.Hue.gov.vn"],
    )
    assert onboarded["agency"]["result_domains"] == ["ketqua.tuphap.hue.gov.vn"]

    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    path = stack.url("registry", f"/agencies/{code}/result-domains")
    refused = await http.put(path, json={"result_domains": ["https://ketqua.hue.gov.vn/"]}, headers=admin)
    assert refused.status_code == 422 and "host name" in refused.text
    assert (await http.put(path, json={"result_domains": ["a.hue.gov.vn"]})).status_code == 401
    changed = await http.put(path, json={"result_domains": ["a.hue.gov.vn", "b.hue.gov.vn"]}, headers=admin)
    assert changed.status_code == 200, changed.text
    entry = (await http.get(stack.url("registry", f"/agencies/{code}"))).json()
    assert entry["result_domains"] == ["a.hue.gov.vn", "b.hue.gov.vn"]
    unknown = stack.url("registry", "/agencies/nobody-here/result-domains")
    assert (await http.put(unknown, json={"result_domains": []}, headers=admin)).status_code == 404
