"""The national portal's simulator, in process: it takes changes in batches, checks the key and the
envelope for the whole request and each change's sync on its own, keeps each change once per idempotency
key, fails when told to (a change or a whole request), and tells tests what it took and answered."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dossierbus_devstack.national_portal import MAX_CHANGES, SYNC_PATH, create_app

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


def change(sync: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    return {"idempotency_key": key or str(uuid.uuid4()), "sync": sync}


@pytest.fixture
async def portal() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(KEY))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as client:
        yield client


async def send(portal: httpx.AsyncClient, *changes: dict[str, Any], api_key: str = KEY) -> httpx.Response:
    return await portal.post(SYNC_PATH, json={"changes": list(changes)}, headers={"X-API-Key": api_key})


def statuses(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [result["status"] for result in response.json()["results"]]


async def received(portal: httpx.AsyncClient, dossier: str | None = None) -> list[dict[str, Any]]:
    params = {"dossier": dossier} if dossier else {}
    kept: list[dict[str, Any]] = (await portal.get("/control/received", params=params)).json()["received"]
    return kept


async def calls(portal: httpx.AsyncClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await portal.get("/control/calls")).json()["calls"]
    return found


async def test_each_change_of_a_batch_is_answered_in_order_and_taken_once_per_key(
    portal: httpx.AsyncClient,
) -> None:
    a, b = change(body("A")), change(body("B", status=1))
    first = await send(portal, a, b)
    assert first.json() == {
        "results": [
            {
                "idempotency_key": item["idempotency_key"],
                "status": 200,
                "detail": None,
                "retry_after_s": None,
                "replayed": False,
            }
            for item in (a, b)
        ]
    }
    other_body = change(body("B", status=4), b["idempotency_key"])
    again = await send(portal, a, other_body)
    assert statuses(again) == [200, 409]
    replayed, refused = again.json()["results"]
    assert replayed["replayed"] is True
    assert refused["detail"] == "idempotency_key already used with another sync"
    assert [(item["key"], item["payload"]["MaHoSo"]) for item in await received(portal)] == [
        (a["idempotency_key"], "A"),
        (b["idempotency_key"], "B"),
    ]
    # One call per change, each naming the request that carried it.
    assert [(call["request"], call["dossier"], call["status"]) for call in await calls(portal)] == [
        (1, "A", 200),
        (1, "B", 200),
        (2, "A", 200),
        (2, "B", 409),
    ]


async def test_each_sync_is_checked_on_its_own(portal: httpx.AsyncClient) -> None:
    personal = change(body("P", SoDinhDanh="001085123456"))
    wrong_code = change(body("W", status=11))
    answered = await send(portal, personal, change(body("OK")), wrong_code)
    assert statuses(answered) == [422, 200, 422]
    details = [result["detail"] for result in answered.json()["results"]]
    assert "SoDinhDanh" in details[0] and "TrangThaiHoSo" in details[2]
    assert [item["payload"]["MaHoSo"] for item in await received(portal)] == ["OK"]


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({}, "changes"),
        ({"changes": []}, "changes"),
        ({"changes": [{"sync": body()}]}, "changes.0.idempotency_key"),
        ({"changes": [change(body()), {"idempotency_key": "k", "sync": "x"}]}, "changes.1.sync"),
        ({"changes": [change(body())], "SoDinhDanh": "001085123456"}, "SoDinhDanh"),
        ([change(body())], "body"),
    ],
)
async def test_a_request_that_is_not_a_batch_is_refused_as_a_whole(
    portal: httpx.AsyncClient, payload: Any, where: str
) -> None:
    answered = await portal.post(SYNC_PATH, json=payload, headers={"X-API-Key": KEY})
    assert answered.status_code == 422, answered.text
    assert where in answered.json()["detail"] and "results" not in answered.json()
    assert await received(portal) == []


async def test_the_key_the_body_and_the_size_are_the_whole_requests(portal: httpx.AsyncClient) -> None:
    a = change(body("A"))
    wrong_key = await send(portal, a, api_key="wrong")
    assert (wrong_key.status_code, wrong_key.json()) == (401, {"detail": "missing or wrong X-API-Key"})
    not_json = await portal.post(SYNC_PATH, content=b"{", headers={"X-API-Key": KEY})
    assert not_json.status_code == 400
    too_many = await send(portal, *(change(body(f"D{index}")) for index in range(MAX_CHANGES + 1)))
    assert too_many.status_code == 413 and "at most 100" in too_many.json()["detail"]
    assert await received(portal) == []
    assert (
        statuses(await send(portal, *(change(body(f"D{index}")) for index in range(MAX_CHANGES))))
        == [200] * MAX_CHANGES
    )
    # The changes a refused request carried are in the calls, answered as a whole.
    [refused] = [call for call in await calls(portal) if call["request"] == 1]
    assert (refused["dossier"], refused["key"], refused["status"]) == ("A", a["idempotency_key"], 401)
    assert refused["whole_request"] is True


async def test_changes_fail_when_told_to(portal: httpx.AsyncClient) -> None:
    told = await portal.post(
        "/control/failures", json={"status": 503, "count": 2, "dossier_code": "A", "retry_after_s": 3}
    )
    assert told.status_code == 200
    a = change(body("A"))
    first = await send(portal, change(body("B")), a)
    assert statuses(first) == [200, 503], "another dossier is taken"
    assert first.json()["results"][1]["retry_after_s"] == 3
    assert statuses(await send(portal, a)) == [503]
    assert statuses(await send(portal, a)) == [200], "only twice"
    assert [item["key"] for item in await received(portal, "A")] == [a["idempotency_key"]]

    await portal.post("/control/failures", json={"status": 429, "count": 2})  # any dossier: counts changes
    assert statuses(await send(portal, *(change(body(code)) for code in "CDE"))) == [429, 429, 200]


async def test_a_whole_request_fails_when_told_to(portal: httpx.AsyncClient) -> None:
    rule = {"status": 503, "dossier_code": "A", "retry_after_s": 5, "whole_request": True}
    assert (await portal.post("/control/failures", json=rule)).status_code == 200
    assert statuses(await send(portal, change(body("B")))) == [200], "a request without A's change"
    failed = await send(portal, change(body("C")), change(body("A")))
    assert (failed.status_code, failed.headers["retry-after"]) == (503, "5")
    assert "results" not in failed.json()
    assert [item["payload"]["MaHoSo"] for item in await received(portal)] == ["B"]
    assert statuses(await send(portal, change(body("C")), change(body("A")))) == [200, 200], "once"
    assert [(call["dossier"], call["status"], call["whole_request"]) for call in await calls(portal)][
        1:3
    ] == [
        ("C", 503, True),
        ("A", 503, True),
    ]
