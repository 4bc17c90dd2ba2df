"""The national portal sync, in memory: which changes are staged with which national code and body, what
the relay makes of each answer of the portal, and in what order it sends a dossier's changes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest

from dossierbus_routing.entrypoints.events import EventHandlers
from dossierbus_routing.portal_sync.changes import RECEIPT_KEYS
from dossierbus_routing.portal_sync.client import HttpPortal
from dossierbus_routing.portal_sync.decisions import Answer, Refused, Retry, RetryPolicy, Sent, decide
from dossierbus_routing.portal_sync.relay import PortalSyncRelay
from dossierbus_routing.portal_sync.store import FAILED, NOT_SENT, PENDING, SENT, InMemorySyncStore
from dossierbus_routing.testing import SettableClock, deliver
from dossierbus_routing.unit_of_work import MemoryStore
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    Channel,
    DossierStatus,
    DossierStatusChanged,
    DossierStatusReported,
    DossierVerified,
)

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = datetime(2026, 3, 2, 9, tzinfo=HANOI)
APPLICANT = Applicant(personal_id="001085123456", full_name="Nguyễn Văn An", date_of_birth=date(1985, 4, 12))
POLICY = RetryPolicy(backoff_s=2, backoff_max_s=60)


def verified(procedure: str = "1.001193", outcome: str = "verified") -> Envelope[DossierVerified]:
    return Envelope(
        DossierVerified(
            dossier_id=uuid.uuid4(),
            dossier_code=f"000.00.01.H26-260302-{uuid.uuid4().hex[:4]}",
            procedure_code=procedure,
            receiving_unit="000.00.01.H26",
            outcome="verified" if outcome == "verified" else "rejected",
            reasons=[]
            if outcome == "verified"
            else ["full_name differs from the national population database"],
            channel=Channel.ONLINE,
            applicant=APPLICANT,
            form={"child_full_name": "Nguyễn Thị Bình"},
            national_facts={"full_name": "Nguyễn Văn An"},
            submitted_at=MONDAY,
            due_date=date(2026, 3, 6),
            verified_at=MONDAY,
        ),
        source="urn:dossierbus:registry",
    )


def reported(
    dossier: Envelope[DossierVerified], step: str, status: str, agency: str = "justice-hanoi"
) -> Envelope[DossierStatusReported]:
    data = dossier.data
    return Envelope(
        DossierStatusReported(
            dossier_id=data.dossier_id,
            dossier_code=data.dossier_code,
            agency_code=agency,
            step=step,
            status=DossierStatus(status),
            reported_at=MONDAY,
        ),
        source=f"urn:agency:{agency}",
    )


def synced(store: MemoryStore, dossier: Envelope[DossierVerified]) -> list[tuple[str, int | None, str]]:
    return [
        (row["status"], row["national_status"], row["state"])
        for row in store.portal_sync
        if row["dossier_id"] == dossier.data.dossier_id
    ]


# --- mapping ----------------------------------------------------------------------------------------------


async def test_every_status_change_is_staged_with_its_national_code_in_order(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    dossier = verified()
    await deliver(handlers, dossier)
    await deliver(handlers, reported(dossier, "birth-registration", "processing"))
    await deliver(
        handlers,
        reported(dossier, "birth-registration", "result_ready"),
        reported(dossier, "birth-registration", "returned"),
    )
    assert synced(store, dossier) == [
        ("received", 1, PENDING),
        ("accepted", 2, PENDING),
        ("processing", 4, PENDING),
        ("result_ready", 9, PENDING),
        ("returned", 10, PENDING),
    ]
    ids = [row["id"] for row in store.portal_sync]
    assert ids == sorted(ids)


async def test_the_body_names_the_dossier_and_no_person(handlers: EventHandlers, store: MemoryStore) -> None:
    dossier = verified()
    await deliver(handlers, dossier)
    await deliver(handlers, reported(dossier, "birth-registration", "processing"))
    received, accepted, processing = (row for row in store.portal_sync)
    assert processing["payload"] == {
        "MaHoSo": dossier.data.dossier_code,
        "MaTTHC": "1.001193",
        "MaDonViTiepNhan": "000.00.01.H26",
        "TrangThaiHoSo": 4,
        "ThoiDiemXuLy": MONDAY.isoformat(),
        "NgayKetThucTheoQuyDinh": "2026-03-06",
        "DonViXuLy": "justice-hanoi",
    }
    assert received["payload"]["ThoiDiemXuLy"] == MONDAY.isoformat()  # when it was submitted
    for row in store.portal_sync:
        text = str(row["payload"])
        assert APPLICANT.personal_id not in text and APPLICANT.full_name not in text
        assert "Bình" not in text  # nothing of the form either
    # Each change has its own key: the status-changed event's id, or one made from the dossier's id.
    assert received["idempotency_key"] == uuid.uuid5(RECEIPT_KEYS, str(dossier.data.dossier_id))
    changed = [envelope for envelope in store.outbox if isinstance(envelope.data, DossierStatusChanged)]
    assert [accepted["idempotency_key"], processing["idempotency_key"]] == [e.id for e in changed]


async def test_a_dossier_refused_before_it_was_received_is_not_received_then(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    dossier = verified(outcome="rejected")
    await deliver(handlers, dossier)
    assert synced(store, dossier) == [("received", 1, PENDING), ("rejected", 3, PENDING)]


async def test_a_refused_step_after_receipt_stops_processing(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    dossier = verified()
    await deliver(handlers, dossier)
    await deliver(handlers, reported(dossier, "birth-registration", "rejected"))
    assert synced(store, dossier)[-1] == ("rejected", 8, PENDING)


async def test_a_transfer_has_no_national_code_and_is_recorded_as_not_sent(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    dossier = verified("3.000722")
    await deliver(handlers, dossier)
    await deliver(handlers, reported(dossier, "birth-registration", "processing"))
    await deliver(handlers, reported(dossier, "birth-registration", "result_ready"))
    transferred = [row for row in store.portal_sync if row["status"] == "transferred"]
    assert transferred, synced(store, dossier)
    assert all(row["state"] == NOT_SENT and row["payload"] is None for row in transferred)
    assert "no national status code" in transferred[0]["last_error"]


# --- what an answer makes of a change ------------------------------------------------------------------


NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_a_2xx_is_sent(status: int) -> None:
    assert decide(Answer(status), 1, NOW, POLICY) == Sent(NOW)


@pytest.mark.parametrize(
    ("answer", "attempts", "wait_s"),
    [
        (Answer(None, error="ConnectError: refused"), 1, 2),
        (Answer(503, "down for maintenance"), 2, 4),
        (Answer(500), 3, 8),
        (Answer(429, "slow down", retry_after_s=30), 1, 30),  # the portal's wish, when longer
        (Answer(502), 10, 60),  # never longer than the cap
        (Answer(401, "bad key"), 1, 2),  # our configuration, not the change: it goes once fixed
        (Answer(403), 1, 2),
        (Answer(408), 1, 2),
    ],
)
def test_no_answer_5xx_429_and_credentials_are_retried_with_backoff(
    answer: Answer, attempts: int, wait_s: float
) -> None:
    decision = decide(answer, attempts, NOW, POLICY)
    assert isinstance(decision, Retry)
    assert decision.at == NOW + timedelta(seconds=wait_s)
    assert decision.error.startswith("no answer" if answer.status is None else f"HTTP {answer.status}")


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_other_4xx_are_refusals_with_the_portals_reason(status: int) -> None:
    decision = decide(Answer(status, "MaTTHC không tồn tại"), 1, NOW, POLICY)
    assert decision == Refused(f"HTTP {status}: MaTTHC không tồn tại")


@pytest.mark.parametrize("status", [400, 404, 413, 422, 401, 503])
def test_an_answer_to_the_whole_request_is_retried_never_a_refusal(status: int) -> None:
    decision = decide(Answer(status, "invalid batch", whole_request=True), 2, NOW, POLICY)
    assert decision == Retry(NOW + timedelta(seconds=4), f"HTTP {status} to the whole request: invalid batch")


def test_a_2xx_to_the_whole_request_does_not_send_a_change() -> None:
    assert isinstance(decide(Answer(200, whole_request=True), 1, NOW, POLICY), Retry)


# --- the relay: order and retries -----------------------------------------------------------------------


class FakePortal:
    """Answers from a script per dossier code (200 once the script is used up); keeps every send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, UUID]] = []
        self.script: dict[str, list[Answer]] = {}

    async def send(self, payload: dict[str, Any], idempotency_key: UUID) -> Answer:
        self.sent.append((payload["MaHoSo"], payload["TrangThaiHoSo"], idempotency_key))
        answers = self.script.get(payload["MaHoSo"], [])
        return answers.pop(0) if answers else Answer(200)


def pending_rows(codes: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Staged rows: each dossier's national codes, interleaved by dossier as they might have happened."""
    rows: list[dict[str, Any]] = []
    dossier_ids = {code: uuid.uuid4() for code in codes}
    longest = max(len(statuses) for statuses in codes.values())
    for index in range(longest):
        for code, statuses in codes.items():
            if index < len(statuses):
                rows.append(
                    {
                        "id": len(rows) + 1,
                        "idempotency_key": uuid.uuid4(),
                        "dossier_id": dossier_ids[code],
                        "dossier_code": code,
                        "payload": {"MaHoSo": code, "TrangThaiHoSo": statuses[index]},
                        "state": PENDING,
                        "attempts": 0,
                        "last_error": None,
                        "next_attempt_at": NOW,
                        "sent_at": None,
                    }
                )
    return rows


def relay_on(
    rows: list[dict[str, Any]], portal: FakePortal, clock: SettableClock, batch: int = 50
) -> PortalSyncRelay:
    memory = InMemorySyncStore(rows)
    return PortalSyncRelay(memory.transaction, portal, POLICY, batch_size=batch, clock=clock)


async def test_one_change_per_dossier_per_round_in_the_order_they_happened() -> None:
    portal, clock = FakePortal(), SettableClock(NOW)
    rows = pending_rows({"A": [1, 2, 4, 9], "B": [1, 3]})
    relay = relay_on(rows, portal, clock)
    assert await relay.relay_once() == 2
    assert portal.sent[:2] == [("A", 1, rows[0]["idempotency_key"]), ("B", 1, rows[1]["idempotency_key"])]
    while await relay.relay_once():
        pass
    assert [status for code, status, _ in portal.sent if code == "A"] == [1, 2, 4, 9]
    assert [status for code, status, _ in portal.sent if code == "B"] == [1, 3]
    assert {row["state"] for row in rows} == {SENT}
    assert all(row["attempts"] == 1 and row["sent_at"] == NOW for row in rows)


async def test_a_change_that_fails_holds_back_its_dossier_until_resent_with_the_same_key() -> None:
    portal, clock = FakePortal(), SettableClock(NOW)
    rows = pending_rows({"A": [1, 2], "B": [1, 2]})
    portal.script["A"] = [Answer(None, error="ConnectTimeout"), Answer(503, "busy")]
    relay = relay_on(rows, portal, clock)
    while await relay.relay_once():
        pass
    first_a = rows[0]
    assert (first_a["state"], first_a["attempts"]) == (PENDING, 1)
    assert first_a["last_error"] == "no answer: ConnectTimeout"
    assert first_a["next_attempt_at"] == NOW + timedelta(seconds=2)
    assert [status for code, status, _ in portal.sent if code == "A"] == [1], "A's 2 waits for its 1"
    assert [status for code, status, _ in portal.sent if code == "B"] == [1, 2], "B is not held back"

    clock.now = NOW + timedelta(seconds=2)
    assert await relay.relay_once() == 1  # A's 1 again: 503 this time
    assert (first_a["attempts"], first_a["last_error"]) == (2, "HTTP 503: busy")
    assert first_a["next_attempt_at"] == clock.now + timedelta(seconds=4)
    assert await relay.relay_once() == 0, "not due yet"

    clock.now += timedelta(seconds=4)
    while await relay.relay_once():
        pass
    sends_of_a = [(status, key) for code, status, key in portal.sent if code == "A"]
    assert [status for status, _ in sends_of_a] == [1, 1, 1, 2]
    assert len({key for status, key in sends_of_a if status == 1}) == 1, "one key for every attempt"
    assert (first_a["state"], first_a["attempts"], first_a["last_error"]) == (SENT, 3, None)
    assert {row["state"] for row in rows} == {SENT}


async def test_a_refused_change_is_failed_for_good_and_the_next_one_goes() -> None:
    portal, clock = FakePortal(), SettableClock(NOW)
    rows = pending_rows({"A": [1, 2, 4]})
    portal.script["A"] = [Answer(200), Answer(422, "NgayKetThucTheoQuyDinh is before NgayNop")]
    relay = relay_on(rows, portal, clock)
    while await relay.relay_once():
        pass
    assert [row["state"] for row in rows] == [SENT, FAILED, SENT]
    assert rows[1]["last_error"] == "HTTP 422: NgayKetThucTheoQuyDinh is before NgayNop"
    assert rows[1]["next_attempt_at"] is None
    clock.now += timedelta(days=1)
    assert await relay.relay_once() == 0, "a refusal is never resent"
    assert [status for _, status, _ in portal.sent] == [1, 2, 4]


async def test_the_batch_size_bounds_a_round() -> None:
    portal, clock = FakePortal(), SettableClock(NOW)
    rows = pending_rows({code: [1] for code in "ABCDE"})
    relay = relay_on(rows, portal, clock, batch=2)
    assert [await relay.relay_once() for _ in range(4)] == [2, 2, 1, 0]
    assert [code for code, _, _ in portal.sent] == list("ABCDE")


# --- the HTTP adapter -----------------------------------------------------------------------------------


async def portal_answering(respond: Any) -> tuple[Answer, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        result: httpx.Response = respond(request)
        return result

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
        key = uuid.UUID("00000000-0000-4000-8000-000000000001")
        answer = await HttpPortal("http://portal/sync", "secret", client).send({"MaHoSo": "X"}, key)
    return answer, seen


async def test_the_adapter_sends_the_key_and_the_body_and_reads_the_answer() -> None:
    answer, [request] = await portal_answering(lambda _: httpx.Response(201, json={"accepted": True}))
    assert answer == Answer(201)
    assert request.headers["X-API-Key"] == "secret"
    assert request.headers["Idempotency-Key"] == "00000000-0000-4000-8000-000000000001"
    assert json.loads(request.content) == {"MaHoSo": "X"}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            httpx.Response(422, json={"title": "Invalid", "detail": "MaTTHC unknown"}),
            Answer(422, "MaTTHC unknown"),
        ),
        (httpx.Response(400, json={"message": "bad date"}), Answer(400, "bad date")),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), Answer(502, "<html>Bad Gateway</html>")),
        (httpx.Response(503, text=""), Answer(503, "Service Unavailable")),
        (httpx.Response(429, headers={"Retry-After": "12"}, json={}), Answer(429, "Too Many Requests", 12.0)),
        (httpx.Response(429, headers={"Retry-After": "soon"}, text="x"), Answer(429, "x", None)),
    ],
)
async def test_the_adapter_keeps_the_portals_reason(response: httpx.Response, expected: Answer) -> None:
    answer, _ = await portal_answering(lambda _: response)
    assert answer == expected


async def test_no_answer_is_an_answer_without_a_status() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    answer, _ = await portal_answering(refuse)
    assert answer == Answer(None, "ConnectError: connection refused")
