"""Bad input on the real stack: every service answers 4xx, never 5xx, and puts none of the request's
personal data into its log or its spans; a burst of one submission under one Idempotency-Key gives one
dossier and the same receipt to every caller."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from dossierbus_devstack.scenarios import birth_registration, submit
from dossierbus_devstack.stack import DevStack
from dossierbus_shared.db import Database

pytestmark = pytest.mark.slow

BURST = 1000
"""Concurrent submissions under one key: many times the intake's 20 database connections."""


def fields(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return {error["field"] for error in answer.json()["errors"]}


def raw_json(body: dict[str, Any], **replace: str) -> bytes:
    """`body` as JSON text with placeholders replaced by raw JSON escapes (`\\u0000`, `\\ud800`), which
    no JSON encoder writes from a Python string."""
    encoded = json.dumps(body, ensure_ascii=False)
    for placeholder, escape in replace.items():
        encoded = encoded.replace(placeholder, escape)
    return encoded.encode()


async def test_nul_or_an_unpaired_surrogate_in_a_submission_is_a_422_and_leaks_nothing(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    body = birth_registration(61)
    full_name, date_of_birth = body["applicant"]["full_name"], body["applicant"]["date_of_birth"]
    body["applicant"]["full_name"] = full_name + "@NUL@"
    body["form"]["child_full_name"] = "Trần Bảo @SURROGATE@ An"
    answer = await http.post(
        stack.url("intake", "/dossiers"),
        content=raw_json(body, **{"@NUL@": "\\u0000", "@SURROGATE@": "\\ud800"}),
        headers={"Idempotency-Key": f"test-{uuid.uuid4()}", "content-type": "application/json"},
    )

    assert fields(answer) == {"applicant.full_name", "form.child_full_name"}
    # A valid dossier submitted after it: once its intake span is exported, so are the earlier ones.
    later = await submit(http, stack, birth_registration(60))
    await stack.spans_for(later["dossier_code"], until=lambda found: bool(found))
    spans = stack.spans_file.read_text(encoding="utf-8")
    log = (stack.workdir / "logs" / "intake.log").read_text(encoding="utf-8")
    for value in (full_name, "Trần Bảo", body["applicant"]["personal_id"], date_of_birth):
        assert value not in log
        assert value not in spans


@pytest.mark.parametrize(
    ("service", "method", "path", "body"),
    [
        ("intake", "GET", "/dossiers/000.00.01.H26-261126-0001%00", None),
        ("intake", "POST", "/dossiers/000.00.01.H26-261126-0001%00/rating", b'{"score": 5}'),
        ("routing", "GET", "/dossiers/000.00.01.H26-261126-0001%00", None),
        (
            "routing",
            "POST",
            "/dossiers/000.00.01.H26-261126-0001/withdrawal",
            b'{"applicant_personal_id": "001090000001", "reason": "moved\\u0000"}',
        ),
        ("notifications", "GET", "/dossiers/000.00.01.H26-261126-0001%00/notifications", None),
        ("registry", "GET", "/once-only?procedure_code=1.001193%00", None),
        (
            "console",
            "POST",
            "/api/dlq/dossier.submitted.dlq/replay",
            b'{"event_id": "\\ud800"}',
        ),
    ],
)
async def test_nul_or_a_surrogate_anywhere_is_a_422_naming_the_field_in_every_service(
    stack: DevStack,
    http: httpx.AsyncClient,
    authorization: Callable[[str], dict[str, str]],
    service: str,
    method: str,
    path: str,
    body: bytes | None,
) -> None:
    headers = {**authorization(service), "content-type": "application/json"}
    answer = await http.request(method, stack.url(service, path), content=body, headers=headers)
    named = fields(answer)
    assert named & {"code", "reason", "procedure_code", "event_id"}, named


async def test_an_id_past_a_bigint_is_a_422(stack: DevStack, http: httpx.AsyncClient) -> None:
    answer = await http.post(
        stack.url("notifications", f"/deliveries/{2**63}/requeue"), headers=stack.headers("operator")
    )
    assert fields(answer) == {"delivery_id"}


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"])
async def test_a_date_no_calendar_can_hold_is_a_422(
    stack: DevStack, http: httpx.AsyncClient, expires_at: str
) -> None:
    personal_id = birth_registration(62)["applicant"]["personal_id"]
    token = await stack.citizen_token(personal_id)
    answer = await http.post(
        stack.url("registry", "/consents"),
        json={"personal_id": personal_id, "procedure_code": "1.001193", "expires_at": expires_at},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert fields(answer) == {"expires_at"}


async def test_a_burst_of_one_submission_gives_one_dossier_and_one_receipt(stack: DevStack) -> None:
    key = f"burst-{uuid.uuid4()}"
    body = birth_registration(63)
    limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:

        async def one() -> httpx.Response:
            answer = await http.post(
                stack.url("intake", "/dossiers"),
                json=body,
                headers={"Idempotency-Key": key, **stack.headers("portal")},
            )
            if answer.status_code == 503:  # every connection busy: the answer says when to come back
                await asyncio.sleep(float(answer.headers["Retry-After"]))
                answer = await http.post(
                    stack.url("intake", "/dossiers"),
                    json=body,
                    headers={"Idempotency-Key": key, **stack.headers("portal")},
                )
            return answer

        answers = await asyncio.gather(*(one() for _ in range(BURST)))

    assert Counter(answer.status_code for answer in answers) == {202: BURST}
    receipts = {json.dumps(answer.json(), sort_keys=True) for answer in answers}
    assert len(receipts) == 1
    assert Counter(answer.headers["Idempotent-Replayed"] for answer in answers)["false"] == 1
    db = Database(stack.database_url, "intake", pool_size=1)
    try:
        async with db.transaction() as session:
            stored = await session.execute(
                text("SELECT count(*) FROM dossiers WHERE idempotency_key = :key"), {"key": key}
            )
            assert stored.scalar_one() == 1
    finally:
        await db.dispose()


async def test_the_intake_still_answers_after_a_burst(stack: DevStack, http: httpx.AsyncClient) -> None:
    receipt = await submit(http, stack, birth_registration(64))
    assert receipt["status"] == "received"
