"""Agency reports are authenticated: routing applies a report only when it is signed with the key the
agency registered, recent, and not a signed report re-sent under a new id. On the running stack."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from dossierbus_devstack.scenarios import business_dossier
from dossierbus_devstack.stack import DevStack
from dossierbus_registry.agencies import new_key_pair
from dossierbus_shared.dlq.replay import read_dead_letters
from reference_agency.agency import load_signing_key, signature

pytestmark = pytest.mark.slow

OFFICE = "planning-investment-hanoi"
REPORTED = "vn.gov.dossierbus.dossier.status-reported.v1"


def report(
    dossier: dict[str, Any], status: str, *, at: datetime | None = None
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
    for _ in range(300):
        dossier = (await http.get(stack.url("routing", f"/dossiers/{code}"))).json()
        if len(dossier["timeline"]) >= seen + count:
            return dossier, dossier["timeline"][seen:]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{code}: expected {count} new timeline entries: {dossier['timeline'][seen:]}")


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
    for (reason, *_), entry in zip(attempts, refused, strict=True):
        assert (entry["event"], entry["outcome"]) == ("report-refused", "refused"), entry
        assert entry["note"].startswith("unauthenticated report:") and reason in entry["note"], entry

    # Neither spent the report's id: the office's genuine report, on its own topic, is applied.
    await send(stack, dossier, value, signed(value, headers, office_key))
    dossier, applied = await entries_after(http, stack, code, seen + len(attempts), 1)
    assert (dossier["status"], applied[0]["outcome"]) == ("result_ready", "applied")
