"""Who may call what in the registry, on the running stack: every endpoint called by every kind of caller,
as the matrix in docs/registry.md says (this test reads that table, so the document and the checks cannot
drift apart), including a citizen asking about someone else."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import BUSINESS, business_dossier
from dossierbus_devstack.stack import DevStack
from dossierbus_registry.synthetic import citizens

pytestmark = pytest.mark.slow

MATRIX = Path(__file__).parents[3] / "docs" / "registry.md"
PEOPLE = list(citizens(1000))
CITIZEN, OTHER, REPRESENTATIVE = 60, 61, 62
AGENCY = "planning-investment-hanoi"
LET_THROUGH_NOT = {401, 403, 404}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expected: dict[str, str]


def matrix() -> list[Row]:
    text = MATRIX.read_text(encoding="utf-8")
    table = text.split("<!-- registry-matrix:start -->")[1].split("<!-- registry-matrix:end -->")[0]
    lines = [line.strip() for line in table.strip().splitlines()]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        method, path = cells[0].split(" ", 1)
        rows.append(Row(method, path, dict(zip(header[1:], cells[1:], strict=True))))
    return rows


ROWS = matrix()


@dataclass
class World:
    headers: dict[str, dict[str, str]]
    """Column of the matrix -> the headers that make a request that kind of caller."""
    values: dict[str, str]
    """Path parameter -> the caller's own object; `other:<name>` -> someone else's."""
    bodies: dict[str, Any]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def world(stack: DevStack) -> World:
    me, other = PEOPLE[CITIZEN].personal_id, PEOPLE[OTHER].personal_id
    mine = bearer(await stack.citizen_token(me))
    admin = bearer(stack.admin_token)
    async with httpx.AsyncClient(timeout=30, headers=stack.headers("portal")) as http:
        code, tax_code = await business_dossier(http, stack, representative=REPRESENTATIVE)
        spare = f"spare-{uuid.uuid4().hex[:6]}"
        onboarded = await http.post(
            stack.url("registry", "/agencies"),
            headers=admin,
            json={"code": spare, "identifier": "1", "name": {"vi": "X"}, "sector": "justice"},
        )
        assert onboarded.status_code == 201, onboarded.text
        consents = {}
        for person, token in ((me, mine), (other, bearer(await stack.citizen_token(other)))):
            given = await http.post(
                stack.url("registry", "/consents"), headers=token, json={"procedure_code": "1.001193"}
            )
            assert given.status_code == 201, given.text
            consents[person] = given.json()["consent_id"]
        # The lookup below is the office's once it has read its assignment from the inbox.
        company = {"procedure_code": BUSINESS, "dossier_code": code, "tax_code": tax_code, "fields": ["name"]}
        office = stack.headers(AGENCY)

        async def looked_up() -> None:
            response = await http.post(stack.url("registry", "/lookups"), headers=office, json=company)
            assert response.is_success, response.text

        await eventually(looked_up)
    return World(
        headers={
            "anonymous": {},
            "citizen": mine,
            "portal": stack.headers("portal"),
            "agency": office,
            "admin token": admin,
            "auditor": stack.headers("auditor"),
            "webhook-secrets token": bearer(stack.webhook_secrets_token),
        },
        values={
            "code": spare,
            "personal_id": me,
            "other:personal_id": other,
            "subject": me,
            "other:subject": other,
            "consent_id": consents[me],
            "other:consent_id": consents[other],
            "reader": AGENCY,
        },
        bodies={
            "POST /agencies": lambda: {
                "code": f"matrix-{uuid.uuid4().hex[:8]}",
                "identifier": "1",
                "name": {"vi": "X"},
                "sector": "justice",
            },
            "POST /agencies/{code}/credentials": lambda: {},
            "POST /lookups": lambda: company,
            "POST /prefill": lambda: {"procedure_code": BUSINESS, "tax_code": tax_code, "fields": ["name"]},
            "POST /consents": lambda: {"procedure_code": "1.001193"},
        },
    )


async def call(
    stack: DevStack, world: World, row: Row, headers: dict[str, str], *, others: bool = False
) -> httpx.Response:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return world.values[f"other:{name}" if others else name]

    path = re.sub(r"\{(\w+)\}", value, row.path)
    body = world.bodies.get(f"{row.method} {row.path}")
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.request(
            row.method, stack.url("registry", path), headers=headers, json=body() if body else None
        )


@pytest.mark.parametrize("row", ROWS, ids=[f"{row.method} {row.path}" for row in ROWS])
async def test_each_caller_gets_what_the_matrix_says(stack: DevStack, world: World, row: Row) -> None:
    for column, expected in row.expected.items():
        response = await call(stack, world, row, world.headers[column])
        if expected.startswith("yes"):
            assert response.status_code not in LET_THROUGH_NOT, (column, response.status_code, response.text)
        else:
            assert response.status_code == int(expected), (column, response.status_code, response.text)
        if another := re.search(r"another's: (\d{3})", expected):
            theirs = await call(stack, world, row, world.headers[column], others=True)
            assert theirs.status_code == int(another.group(1)), (column, theirs.status_code, theirs.text)


async def test_the_matrix_names_every_operation_of_the_registry(stack: DevStack) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        document = (await http.get(stack.url("registry", "/openapi.json"))).json()
    operations = {
        f"{method.upper()} {path}" for path, methods in document["paths"].items() for method in methods
    }
    listed = {f"{row.method} {row.path}" for row in ROWS}
    assert operations <= listed, f"not in docs/registry.md's matrix: {sorted(operations - listed)}"
