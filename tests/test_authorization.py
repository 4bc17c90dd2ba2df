"""Who may call what, on the real stack: every endpoint of intake, routing and notifications, called by
every kind of caller, as the matrix in docs/authorization.md says (this test reads that table, so the
document and the checks cannot drift apart). Then what the matrix cannot show: a dossier code alone
reveals nothing, the tracking secret does, and the registry's reasons reach the applicant alone."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.mail import MailSink
from dossierbus_devstack.scenarios import birth_registration, wait_final, wait_for_notifications
from dossierbus_devstack.stack import DevStack

pytestmark = pytest.mark.slow

MATRIX = Path(__file__).parents[1] / "docs" / "authorization.md"
APPLICANT, OTHER = 40, 41
"""Seeded citizens (scenarios.birth_registration): the applicant of the dossier, and someone else."""
ASSIGNED, UNASSIGNED = "justice-hanoi", "police-hanoi"
"""Birth registration (1.001193) is one step at the justice department; the police hold none of it."""


@dataclass(frozen=True)
class Row:
    service: str
    method: str
    path: str
    expected: dict[str, str]
    """Column (kind of caller) -> `yes` or the status code."""


def matrix() -> list[Row]:
    text = MATRIX.read_text(encoding="utf-8")
    table = text.split("<!-- authorization-matrix:start -->")[1].split("<!-- authorization-matrix:end -->")[0]
    lines = [line.strip() for line in table.strip().splitlines()]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        method, path = cells[1].split(" ", 1)
        expected = dict(zip(header[2:], cells[2:], strict=True))
        rows += [Row(service, method, path, expected) for service in cells[0].split(", ")]
    return rows


ROWS = matrix()
SERVICES = ("intake", "routing", "notifications")


@dataclass
class World:
    code: str
    tracking_secret: str
    delivery_id: int
    headers: dict[str, dict[str, str]]
    """Column of the matrix -> the headers that make a request that kind of caller."""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def world(stack: DevStack) -> World:
    applicant_id = birth_registration(APPLICANT)["applicant"]["personal_id"]
    other_id = birth_registration(OTHER)["applicant"]["personal_id"]
    async with httpx.AsyncClient(timeout=30, headers=stack.headers("portal")) as http:
        submitted = await http.post(
            stack.url("intake", "/dossiers"),
            json=birth_registration(APPLICANT),
            headers={"Idempotency-Key": f"matrix-{uuid.uuid4()}"},
        )
        assert submitted.status_code == 202, submitted.text
        receipt = submitted.json()
        code = receipt["dossier_code"]

        async def assigned() -> None:
            view = await http.get(stack.url("routing", f"/dossiers/{code}"))
            assert view.status_code == 200, view.text
            steps = view.json()["steps"]
            assert any(s["agency_code"] == ASSIGNED for s in steps), (
                f"{code} not assigned to {ASSIGNED}: {steps}"
            )

        await eventually(assigned)  # until the justice department holds its step
        await wait_for_notifications(http, stack, code, count=1)  # notifications knows the applicant
        operator = stack.headers("operator")
        deliveries = (await http.get(stack.url("notifications", "/deliveries"), headers=operator)).json()
    return World(
        code=code,
        tracking_secret=receipt["tracking_secret"],
        delivery_id=deliveries["deliveries"][0]["id"],
        headers={
            "anonymous": {},
            "invalid token": bearer("not-a-token-anyone-issued"),
            "tracking secret": {"X-Tracking-Secret": receipt["tracking_secret"]},
            "applicant": bearer(await stack.citizen_token(applicant_id)),
            "other citizen": bearer(await stack.citizen_token(other_id)),
            "portal": stack.headers("portal"),
            "assigned agency": stack.headers(ASSIGNED),
            "other agency": stack.headers(UNASSIGNED),
            "operator": stack.headers("operator"),
            "auditor": stack.headers("auditor"),
        },
    )


def request_for(row: Row, world: World) -> tuple[str, dict[str, Any] | None, dict[str, str]]:
    """Path, JSON body and extra headers of a call that, let through, touches the world's dossier."""
    path = row.path.replace("{code}", world.code).replace("{delivery_id}", str(world.delivery_id))
    bodies: dict[str, dict[str, Any]] = {
        "/dossiers": birth_registration(APPLICANT),
        "/dossiers/{code}/rating": {"score": 4},
        "/dossiers/{code}/withdrawal": {"reason": "walking the authorisation matrix"},
        "/dossiers/{code}/supplement": {"note": "walking the authorisation matrix"},
    }
    extra = {"Idempotency-Key": f"matrix-{uuid.uuid4()}"} if row.path == "/dossiers" else {}
    return path, bodies.get(row.path) if row.method == "POST" else None, extra


@pytest.mark.parametrize("row", ROWS, ids=[f"{row.service} {row.method} {row.path}" for row in ROWS])
async def test_every_caller_gets_what_the_matrix_says(stack: DevStack, world: World, row: Row) -> None:
    path, body, extra = request_for(row, world)
    wrong = []
    async with httpx.AsyncClient(timeout=30) as http:
        for column, expected in row.expected.items():
            response = await http.request(
                row.method,
                stack.url(row.service, path),
                json=body,
                headers={**world.headers[column], **extra},
            )
            allowed = (
                response.status_code not in {401, 403, 404} and response.status_code < 500
            ) or _let_through_404(response)
            if (expected == "yes" and not allowed) or (
                expected != "yes" and str(response.status_code) != expected
            ):
                wrong.append(
                    f"{column}: expected {expected}, got {response.status_code} {response.text[:200]}"
                )
    assert not wrong, "\n".join(wrong)


def _let_through_404(response: httpx.Response) -> bool:
    """The world's dossier owes no fees: a caller let through to its payment or receipt is told so."""
    if response.status_code != 404:
        return False
    try:
        title = response.json().get("title")
    except ValueError:
        return False
    return title in {"No payment", "Not paid"}


@pytest.mark.parametrize("service", SERVICES)
async def test_the_matrix_lists_every_operation(stack: DevStack, service: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        document = (await http.get(stack.url(service, "/openapi.json"))).json()
    operations = {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}
    listed = {(row.method, row.path) for row in ROWS if row.service == service}
    assert operations - listed == set(), "operations missing from docs/authorization.md"


async def test_a_dossier_code_alone_reveals_nothing_the_tracking_secret_does(
    stack: DevStack, http: httpx.AsyncClient, mail: MailSink
) -> None:
    body = birth_registration(APPLICANT, email="tracker@example.vn")
    key = f"tracking-{uuid.uuid4()}"
    receipt = await http.post(stack.url("intake", "/dossiers"), json=body, headers={"Idempotency-Key": key})
    assert receipt.status_code == 202, receipt.text
    code, secret = receipt.json()["dossier_code"], receipt.json()["tracking_secret"]
    assert len(secret) >= 32
    again = await http.post(stack.url("intake", "/dossiers"), json=body, headers={"Idempotency-Key": key})
    assert again.json() == receipt.json(), "a retried submission gets the same receipt and secret"

    async with httpx.AsyncClient(timeout=30) as anyone:
        for service in ("intake", "routing"):
            assert (await anyone.get(stack.url(service, f"/dossiers/{code}"))).status_code == 401
        guessed = await anyone.get(
            stack.url("intake", f"/dossiers/{code}"), headers={"X-Tracking-Secret": "x" * 32}
        )
        assert guessed.status_code == 404
        tracked = await anyone.get(
            stack.url("intake", f"/dossiers/{code}"), headers={"X-Tracking-Secret": secret}
        )
    assert tracked.status_code == 200, tracked.text
    assert tracked.json()["dossier_code"] == code
    assert tracked.json()["status"] in {"received", "accepted", "processing", "result_ready", "returned"}

    email = (await mail.wait_for(code, count=1, subject_containing="Receipt"))[0]
    assert secret in email.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


async def test_withdrawal_and_rating_need_the_applicant_not_her_personal_id(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    body = birth_registration(OTHER)
    receipt = await http.post(
        stack.url("intake", "/dossiers"), json=body, headers={"Idempotency-Key": f"w-{uuid.uuid4()}"}
    )
    code = receipt.json()["dossier_code"]
    async with httpx.AsyncClient(timeout=30) as anyone:
        withdrawal = await anyone.post(
            stack.url("routing", f"/dossiers/{code}/withdrawal"),
            json={"applicant_personal_id": body["applicant"]["personal_id"]},
        )
        rating = await anyone.post(stack.url("intake", f"/dossiers/{code}/rating"), json={"score": 1})
    assert (withdrawal.status_code, rating.status_code) == (401, 401)
    final = await wait_final(http, stack, code)
    assert final["status"] == "returned", "nobody but the applicant or the portal withdrew it"


async def test_reasons_that_reveal_national_data_reach_the_applicant_alone(
    stack: DevStack, http: httpx.AsyncClient, mail: MailSink
) -> None:
    body = birth_registration(APPLICANT, email="impostor@example.vn")
    body["applicant"]["full_name"] = "Trần Văn Giả"  # not the name the population database has
    receipt = await http.post(
        stack.url("intake", "/dossiers"), json=body, headers={"Idempotency-Key": f"r-{uuid.uuid4()}"}
    )
    code = receipt.json()["dossier_code"]
    seen_by_portal = await wait_final(http, stack, code)
    assert seen_by_portal["status"] == "rejected"
    oracle = re.compile(r"differs|not found|national population", re.IGNORECASE)
    assert "rejection_reasons" not in seen_by_portal
    assert not oracle.search(str(seen_by_portal["timeline"])), seen_by_portal["timeline"]

    applicant = bearer(await stack.citizen_token(body["applicant"]["personal_id"]))
    seen_by_applicant = (await http.get(stack.url("routing", f"/dossiers/{code}"), headers=applicant)).json()
    assert seen_by_applicant["rejection_reasons"] == [
        "full_name differs from the national population database"
    ]

    await wait_for_notifications(http, stack, code, count=2)
    emails = await mail.wait_for(code, count=2)
    for message in emails:
        text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert not oracle.search(text), text
