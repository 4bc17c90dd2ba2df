"""Dossiers driven through a running stack: shared by the demo, the end-to-end tests and the benchmark."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.stack import SEEDED_CITIZENS, DevStack
from dossierbus_registry.synthetic import citizens
from dossierbus_shared.identifiers import tax_check_digit

FINAL = {"returned", "rejected", "withdrawn"}
_population = list(citizens(SEEDED_CITIZENS))


def birth_registration(index: int, email: str | None = "applicant@example.vn") -> dict[str, Any]:
    """A valid birth-registration submission by the index-th seeded citizen."""
    citizen = _population[index % SEEDED_CITIZENS]
    return {
        "procedure_code": "1.001193",
        "channel": "online",
        "applicant": {
            "personal_id": citizen.personal_id,
            "full_name": citizen.full_name,
            "date_of_birth": citizen.date_of_birth.isoformat(),
            "email": email,
        },
        "form": {
            "child_full_name": "Nguyễn Minh Khang",
            "child_date_of_birth": "2026-11-20",
            "child_sex": "male",
            "place_of_birth": "Bệnh viện Phụ sản Hà Nội",
            "relationship": "mother",
        },
    }


def linked_birth(index: int, place_of_birth: str = "Bệnh viện Phụ sản Hà Nội") -> dict[str, Any]:
    """A valid submission of the linked birth group (3.000722) by the index-th seeded citizen.

    A "[<agency>: rejects | asks for a supplement | holds]" marker in `place_of_birth` scripts that
    reference agency for this dossier.
    """
    body = birth_registration(index)
    body["procedure_code"] = "3.000722"
    body["form"]["place_of_birth"] = place_of_birth
    return body


def linked_death(index: int, place_of_death: str = "Bệnh viện Bạch Mai") -> dict[str, Any]:
    """A valid submission of the linked death group (2.002913) by the index-th seeded citizen."""
    body = birth_registration(index)
    body["procedure_code"] = "2.002913"
    body["form"] = {
        "deceased_personal_id": _population[(index + 1) % SEEDED_CITIZENS].personal_id,
        "date_of_death": "2026-11-20",
        "place_of_death": place_of_death,
        "relationship": "child",
    }
    return body


async def submit(http: httpx.AsyncClient, stack: DevStack, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(
        stack.url("intake", "/dossiers"), json=body, headers={"Idempotency-Key": f"test-{uuid.uuid4()}"}
    )
    assert response.status_code == 202, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


async def wait_final(
    http: httpx.AsyncClient, stack: DevStack, code: str, timeout_s: float = 60
) -> dict[str, Any]:
    """The routing view of the dossier once it reaches a final status."""

    async def final() -> dict[str, Any]:
        response = await http.get(stack.url("routing", f"/dossiers/{code}"))
        assert response.status_code == 200, f"dossier {code}: {response.text}"
        dossier: dict[str, Any] = response.json()
        assert dossier["status"] in FINAL, f"dossier {code} not final; last seen: {dossier}"
        return dossier

    return await eventually(final, timeout_s=timeout_s)


async def wait_for_notifications(
    http: httpx.AsyncClient, stack: DevStack, code: str, count: int, timeout_s: float = 30
) -> list[dict[str, object]]:
    async def settled() -> list[dict[str, object]]:
        response = await http.get(stack.url("notifications", f"/dossiers/{code}/notifications"))
        notifications: list[dict[str, object]] = response.json()["notifications"]
        assert len(notifications) >= count and all(n["status"] != "pending" for n in notifications), (
            f"{code}: expected {count} settled notifications, got {notifications}"
        )
        return notifications

    return await eventually(settled, timeout_s=timeout_s)


BUSINESS = "2.001199"
"""Business registration change: the stack's registration office keeps these dossiers in processing."""


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
            _population[representative % SEEDED_CITIZENS].personal_id,
        )
    return tax_code


async def business_dossier(http: httpx.AsyncClient, stack: DevStack, representative: int) -> tuple[str, str]:
    """A live business-registration-change dossier (in processing at the office); its code and tax code."""
    tax_code = await enterprise_of(stack, representative)
    body = birth_registration(representative)
    body.update(
        procedure_code=BUSINESS,
        form={"tax_code": tax_code, "change": "head_office_address", "new_value": "Số 9, phường Hoàn Kiếm"},
    )
    code = str((await submit(http, stack, body))["dossier_code"])

    async def processing() -> None:
        response = await http.get(stack.url("routing", f"/dossiers/{code}"))
        assert response.status_code == 200 and response.json()["status"] == "processing", response.text

    await eventually(processing)
    return code, tax_code
