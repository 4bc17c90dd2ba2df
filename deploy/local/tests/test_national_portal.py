"""The national portal's simulator, in process: it checks the key and the body, keeps each change once per
idempotency key, fails when told to, and tells tests what it took."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dossierbus_devstack.national_portal import SYNC_PATH, create_app

KEY = "simulator-key"


def body(code: str = "000.00.01.H26-260302-0001", status: int = 2, **more: Any) -> dict[str, Any]:
    return {
        "MaHoSo": code,
        "MaTTHC": "1.001193",
        "MaDonViTiepNhan": "000.00.01.H26",
        "TrangThaiHoSo": status,
        "ThoiDiemXuLy": "2026-03-02T02:00:00+00:00",
        "NgayKetThucTheoQuyDinh": "2026-03-06",
        "DonViXuLy": None,
        **more,
    }


@pytest.fixture
async def portal() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(KEY))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as client:
        yield client


async def sync(
    portal: httpx.AsyncClient, payload: dict[str, Any], key: str | None, api_key: str = KEY
) -> Any:
    headers = {"X-API-Key": api_key} | ({"Idempotency-Key": key} if key else {})
    return await portal.post(SYNC_PATH, json=payload, headers=headers)


async def test_a_change_is_taken_once_per_key(portal: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    first, again = await sync(portal, body(), key), await sync(portal, body(), key)
    assert (first.status_code, first.json()) == (200, {"accepted": True, "replayed": False})
    assert (again.status_code, again.json()) == (200, {"accepted": True, "replayed": True})
    other = await sync(portal, body(status=4), key)
    assert other.status_code == 409 and "another body" in other.json()["detail"]
    received = (await portal.get("/control/received")).json()["received"]
    assert [item["payload"]["TrangThaiHoSo"] for item in received] == [2]
    assert [call["status"] for call in (await portal.get("/control/calls")).json()["calls"]] == [
        200,
        200,
        409,
    ]


async def test_the_key_and_the_body_are_checked(portal: httpx.AsyncClient) -> None:
    assert (await sync(portal, body(), str(uuid.uuid4()), api_key="wrong")).status_code == 401
    assert (await sync(portal, body(), None)).status_code == 400
    personal = await sync(portal, body(SoDinhDanh="001085123456"), str(uuid.uuid4()))
    assert personal.status_code == 422 and "SoDinhDanh" in personal.json()["detail"]
    wrong_code = await sync(portal, body(status=11), str(uuid.uuid4()))
    assert wrong_code.status_code == 422 and "TrangThaiHoSo" in wrong_code.json()["detail"]
    assert (await portal.get("/control/received")).json()["received"] == []


async def test_it_fails_when_told_to(portal: httpx.AsyncClient) -> None:
    told = await portal.post(
        "/control/failures", json={"status": 503, "count": 2, "dossier_code": "A", "retry_after_s": 3}
    )
    assert told.status_code == 200
    assert (await sync(portal, body("B"), str(uuid.uuid4()))).status_code == 200, "another dossier"
    failed = await sync(portal, body("A"), key := str(uuid.uuid4()))
    assert (failed.status_code, failed.headers["retry-after"]) == (503, "3")
    assert (await sync(portal, body("A"), key)).status_code == 503
    assert (await sync(portal, body("A"), key)).status_code == 200, "only twice"
    taken = (await portal.get("/control/received", params={"dossier": "A"})).json()["received"]
    assert [item["key"] for item in taken] == [key]
