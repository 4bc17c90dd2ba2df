"""The national portal sync, in memory: which changes are staged with which national code and body, what
the relay makes of each answer of the portal, in what order it sends a dossier's changes (a round's in one
request), and the HTTP adapter's request and its reading of the answer to each change."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import ValidationError

from dossierbus_devstack.eventually import eventually
from dossierbus_routing.entrypoints.events import EventHandlers
from dossierbus_routing.portal_sync.changes import RECEIPT_KEYS
from dossierbus_routing.portal_sync.client import Change, HttpPortal
from dossierbus_routing.portal_sync.decisions import Answer, Refused, Retry, RetryPolicy, Sent, decide
from dossierbus_routing.portal_sync.relay import PortalSyncRelay
from dossierbus_routing.portal_sync.store import FAILED, NOT_SENT, PENDING, SENT, InMemorySyncStore
from dossierbus_routing.settings import RoutingSettings
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
    """Answers each change from a script per dossier code (200 once the script is used up), or a whole
    request from its own script; keeps every request, and every change sent."""

    def __init__(self) -> None:
        self.requests: list[list[tuple[str, int, UUID]]] = []
        self.script: dict[str, list[Answer]] = {}
        self.whole: list[Answer] = []

    @property
    def sent(self) -> list[tuple[str, int, UUID]]:
        return [change for request in self.requests for change in request]

    async def send(self, changes: Sequence[Change]) -> list[Answer]:
        self.requests.append(
            [(c.payload["MaHoSo"], c.payload["TrangThaiHoSo"], c.idempotency_key) for c in changes]
        )
        if self.whole:
            return [self.whole.pop(0)] * len(changes)
        return [self._answer(change.payload["MaHoSo"]) for change in changes]

    def _answer(self, code: str) -> Answer:
        answers = self.script.get(code, [])
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
    assert portal.requests == [[("A", 1, rows[0]["idempotency_key"]), ("B", 1, rows[1]["idempotency_key"])]]
    while await relay.relay_once():
        pass
    assert [[code for code, _, _ in request] for request in portal.requests] == [
        ["A", "B"],
        ["A", "B"],
        ["A"],
        ["A"],
    ], "one request per round, one change per dossier in it"
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


async def test_a_round_answered_as_a_whole_is_retried_for_each_change_with_its_key() -> None:
    portal, clock = FakePortal(), SettableClock(NOW)
    rows = pending_rows({"A": [1, 2], "B": [1]})
    portal.whole = [Answer(422, "invalid batch: changes.1.sync", whole_request=True)]
    relay = relay_on(rows, portal, clock)
    assert await relay.relay_once() == 2
    first_a, first_b = rows[0], rows[1]
    for row in (first_a, first_b):
        assert (row["state"], row["attempts"]) == (PENDING, 1), "retried, not refused"
        assert row["last_error"] == "HTTP 422 to the whole request: invalid batch: changes.1.sync"
        assert row["next_attempt_at"] == NOW + timedelta(seconds=2)
    assert await relay.relay_once() == 0, "not due yet, and A's 2 waits behind its 1"

    clock.now += timedelta(seconds=2)
    while await relay.relay_once():
        pass
    assert portal.requests[1] == portal.requests[0], "the same changes again, with the same keys"
    assert {row["state"] for row in rows} == {SENT}
    assert (first_a["attempts"], first_a["last_error"]) == (2, None)


def test_a_round_never_holds_more_changes_than_the_portal_takes_in_a_request() -> None:
    url = "postgresql+asyncpg://routing@db/dossierbus"
    assert RoutingSettings(database_url=url, portal_sync_batch_size=100).portal_sync_batch_size == 100
    with pytest.raises(ValidationError, match="portal_sync_batch_size"):
        RoutingSettings(database_url=url, portal_sync_batch_size=101)  # the portal would answer 413


async def test_the_batch_size_bounds_a_round() -> None:
    portal, clock = FakePortal(), SettableClock(NOW)
    rows = pending_rows({code: [1] for code in "ABCDE"})
    relay = relay_on(rows, portal, clock, batch=2)
    assert [await relay.relay_once() for _ in range(4)] == [2, 2, 1, 0]
    assert [[code for code, _, _ in request] for request in portal.requests] == [
        ["A", "B"],
        ["C", "D"],
        ["E"],
    ]


@pytest.mark.parametrize(("gather_s", "requests"), [(0.0, [["A"], ["B"]]), (0.5, [["A", "B"]])])
async def test_a_woken_relay_gathers_the_changes_committed_meanwhile_into_one_request(
    gather_s: float, requests: list[list[str]]
) -> None:
    portal, clock = FakePortal(), SettableClock(NOW)
    later = pending_rows({"A": [1], "B": [1]})
    memory = InMemorySyncStore([])
    relay = PortalSyncRelay(
        memory.transaction, portal, POLICY, poll_interval_s=60, gather_s=gather_s, clock=clock
    )
    running = asyncio.create_task(relay.run())
    try:
        for row in later:  # two commits, 50 ms apart, each waking the relay
            await asyncio.sleep(0.05)
            memory.rows.append(row)
            relay.wake()
        await eventually(lambda: {row["state"] for row in later} == {SENT})
    finally:
        running.cancel()
    assert [[code for code, _, _ in request] for request in portal.requests] == requests


@pytest.mark.parametrize(("gather_s", "requests"), [(0.0, [["A"], ["A"], ["B"]]), (0.5, [["A"], ["A", "B"]])])
async def test_after_a_round_that_sent_some_the_relay_gathers_before_the_next(
    gather_s: float, requests: list[list[str]]
) -> None:
    """A's 2 is due once its 1 is sent: at once without gathering, alone; with it, beside B's 1."""
    portal, clock = FakePortal(), SettableClock(NOW)
    first, second = pending_rows({"A": [1, 2]}), pending_rows({"B": [1]})
    second[0]["id"] = 3  # staged after A's two
    memory = InMemorySyncStore(first)
    relay = PortalSyncRelay(
        memory.transaction, portal, POLICY, poll_interval_s=60, gather_s=gather_s, clock=clock
    )
    running = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: len(portal.requests) >= 1)  # A's 1; its 2 is due next round
        await asyncio.sleep(0.05)
        memory.rows += second  # committed 50 ms after the first round
        relay.wake()
        await eventually(lambda: {row["state"] for row in first + second} == {SENT})
    finally:
        running.cancel()
    assert [[code for code, _, _ in request] for request in portal.requests] == requests


# --- the HTTP adapter -----------------------------------------------------------------------------------


KEYS = [uuid.UUID(f"00000000-0000-4000-8000-00000000000{index}") for index in range(1, 4)]
CHANGES = [Change(key, {"MaHoSo": f"D{index}", "TrangThaiHoSo": 2}) for index, key in enumerate(KEYS)]


async def portal_answering(
    respond: Any, changes: Sequence[Change] = CHANGES
) -> tuple[list[Answer], list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        result: httpx.Response = respond(request)
        return result

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
        answers = await HttpPortal("http://portal/sync", "secret", client).send(changes)
    return answers, seen


def result(key: uuid.UUID, status: int, detail: str | None = None, **more: Any) -> dict[str, Any]:
    return {"idempotency_key": str(key), "status": status, "detail": detail, "retry_after_s": None, **more}


async def test_the_adapter_sends_the_changes_in_one_request_and_answers_each() -> None:
    answer_all = httpx.Response(200, json={"results": [result(key, 200) for key in KEYS]})
    answers, [request] = await portal_answering(lambda _: answer_all)
    assert answers == [Answer(200)] * 3
    assert (request.method, str(request.url)) == ("POST", "http://portal/sync")
    assert request.headers["X-API-Key"] == "secret"
    assert request.headers["Content-Type"] == "application/json"
    assert "Idempotency-Key" not in request.headers, "each change carries its key in the body"
    assert json.loads(request.content) == {
        "changes": [
            {
                "idempotency_key": "00000000-0000-4000-8000-000000000001",
                "sync": {"MaHoSo": "D0", "TrangThaiHoSo": 2},
            },
            {
                "idempotency_key": "00000000-0000-4000-8000-000000000002",
                "sync": {"MaHoSo": "D1", "TrangThaiHoSo": 2},
            },
            {
                "idempotency_key": "00000000-0000-4000-8000-000000000003",
                "sync": {"MaHoSo": "D2", "TrangThaiHoSo": 2},
            },
        ]
    }


async def test_each_change_gets_its_own_result_matched_by_key() -> None:
    results = [
        result(KEYS[2], 503, "busy", retry_after_s=7, replayed=None),  # in another order: matched by key
        result(KEYS[0], 409, "idempotency_key already used with another sync"),
        result(KEYS[1], 422, retry_after_s="soon"),  # not a number of seconds: none
    ]
    answers, _ = await portal_answering(lambda _: httpx.Response(200, json={"results": results}))
    assert answers == [
        Answer(409, "idempotency_key already used with another sync"),
        Answer(422, "Unprocessable Entity"),  # no detail: the status's name
        Answer(503, "busy", 7.0),
    ]
    decisions = [decide(answer, 1, NOW, POLICY) for answer in answers]
    assert [type(decision) for decision in decisions] == [Refused, Refused, Retry]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            httpx.Response(422, json={"title": "Invalid", "detail": "invalid batch: changes"}),
            Answer(422, "invalid batch: changes", whole_request=True),
        ),
        (httpx.Response(401, json={"message": "bad key"}), Answer(401, "bad key", whole_request=True)),
        (
            httpx.Response(502, text="<html>Bad Gateway</html>"),
            Answer(502, "<html>Bad Gateway</html>", whole_request=True),
        ),
        (httpx.Response(503, text=""), Answer(503, "Service Unavailable", whole_request=True)),
        (
            httpx.Response(429, headers={"Retry-After": "12"}, json={}),
            Answer(429, "Too Many Requests", 12.0, whole_request=True),
        ),
        (
            httpx.Response(429, headers={"Retry-After": "soon"}, text="x"),
            Answer(429, "x", whole_request=True),
        ),
        (httpx.Response(413, json={"detail": "at most 100"}), Answer(413, "at most 100", whole_request=True)),
    ],
)
async def test_an_answer_to_the_whole_request_is_every_changes_with_the_portals_reason(
    response: httpx.Response, expected: Answer
) -> None:
    answers, _ = await portal_answering(lambda _: response)
    assert answers == [expected] * 3
    assert all(isinstance(decide(answer, 1, NOW, POLICY), Retry) for answer in answers)


async def test_a_change_without_a_result_has_no_answer() -> None:
    results = [
        result(KEYS[0], 200),
        {"idempotency_key": str(KEYS[1]), "status": "ok"},  # not a status
        result(uuid.uuid4(), 200),  # another change's
    ]
    answers, _ = await portal_answering(lambda _: httpx.Response(200, json={"results": results}))
    missing = Answer(None, "HTTP 200 without a result for this change")
    assert answers == [Answer(200), missing, missing]
    assert decide(missing, 1, NOW, POLICY) == Retry(
        NOW + timedelta(seconds=2), "no answer: HTTP 200 without a result for this change"
    )


@pytest.mark.parametrize(
    ("response", "said"),
    [
        (httpx.Response(200, text="<html>OK</html>"), "<html>OK</html>"),
        (httpx.Response(200, json={"accepted": True}), '{"accepted":true}'),
        (httpx.Response(200, json={"results": {"a": 1}}), '{"results":{"a":1}}'),
        (httpx.Response(204), "No Content"),
    ],
)
async def test_a_2xx_that_is_not_the_results_is_no_answer_for_any_change(
    response: httpx.Response, said: str
) -> None:
    answers, _ = await portal_answering(lambda _: response)
    expected = Answer(None, f"HTTP {response.status_code} without the results of the changes: {said}")
    assert answers == [expected] * 3


async def test_no_answer_is_every_changes_answer_without_a_status() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    answers, _ = await portal_answering(refuse)
    assert answers == [Answer(None, "ConnectError: connection refused")] * 3


async def test_nothing_to_send_is_no_request() -> None:
    answers, seen = await portal_answering(lambda _: httpx.Response(500), [])
    assert (answers, seen) == ([], [])
