"""The national portal sync on a real PostgreSQL, against the portal's simulator served in process: changes
staged with the dossier change (in the batch's one write statement, nothing when it rolls back), two
relays sharing the work with SKIP LOCKED, each round's changes in one request, each dossier's changes
taken in order, a failed change or request retried with its keys, a refusal kept as failed, a send whose
outcome was lost taken as a repeat, and what operators see of it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from dossierbus_devstack.national_portal import SYNC_PATH, create_app
from dossierbus_devstack.statements import statements
from dossierbus_routing.bootstrap import bootstrap
from dossierbus_routing.domain import Context
from dossierbus_routing.entrypoints.events import EventHandlers
from dossierbus_routing.portal_sync.client import Change, HttpPortal
from dossierbus_routing.portal_sync.decisions import Answer, RetryPolicy
from dossierbus_routing.portal_sync.metrics import SyncSampler
from dossierbus_routing.portal_sync.relay import PortalSyncRelay
from dossierbus_routing.portal_sync.store import (
    FAILED,
    NOT_SENT,
    PENDING,
    SENT,
    PostgresStaging,
    PostgresSyncStore,
    RelayStore,
    portal_sync,
    postgres_relay_transaction,
)
from dossierbus_routing.settings import RoutingSettings
from dossierbus_routing.testing import deliver
from dossierbus_routing.unit_of_work import RoutingUnitOfWork
from dossierbus_shared.db import Database
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    Channel,
    DossierStatus,
    DossierStatusReported,
    DossierVerified,
    ResultDocument,
)

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = datetime(2026, 3, 2, 9, tzinfo=HANOI)
APPLICANT = Applicant(personal_id="001085123456", full_name="Nguyễn Văn An", date_of_birth=date(1985, 4, 12))
KEY = "portal-key"
QUICK = RetryPolicy(backoff_s=0.05, backoff_max_s=0.2)
BIRTH = ["processing", "result_ready", "returned"]


def verified() -> Envelope[DossierVerified]:
    data = DossierVerified(
        dossier_id=uuid.uuid4(),
        dossier_code=f"000.00.01.H26-260302-{uuid.uuid4().hex[:6]}",
        procedure_code="1.001193",
        receiving_unit="000.00.01.H26",
        outcome="verified",
        channel=Channel.ONLINE,
        applicant=APPLICANT,
        form={"child_full_name": "Nguyễn Thị Bình"},
        national_facts={"full_name": "Nguyễn Văn An"},
        submitted_at=MONDAY,
        due_date=date(2026, 3, 6),
        verified_at=MONDAY,
    )
    return Envelope(data, source="urn:dossierbus:registry")


def reported(dossier: Envelope[DossierVerified], status: str) -> Envelope[DossierStatusReported]:
    documents = [ResultDocument(name="r.pdf", url="https://ketqua.justice-hanoi.gov.vn/r.pdf")]
    data = DossierStatusReported(
        dossier_id=dossier.data.dossier_id,
        dossier_code=dossier.data.dossier_code,
        agency_code="justice-hanoi",
        step="birth-registration",
        status=DossierStatus(status),
        result_documents=documents if status == "result_ready" else [],
        reported_at=MONDAY,
    )
    return Envelope(data, source="urn:agency:justice-hanoi")


def syncing(db: Database) -> Callable[[], Any]:
    """A unit of work that stages changes for the portal, as bootstrap() makes it with PORTAL_SYNC_URL."""
    return lambda: db.unit_of_work(partial(RoutingUnitOfWork, portal_sync=PostgresStaging))


@pytest.fixture
def db_handlers(db: Database, context: Context) -> EventHandlers:
    """Routing's handlers on the test's database, staging for the portal."""
    return EventHandlers(context, syncing(db))


async def flow(handlers: EventHandlers, dossiers: list[Envelope[DossierVerified]]) -> None:
    """The dossiers arrive together, then each report reaches all of them in one batch."""
    await deliver(handlers, *dossiers)
    for status in BIRTH:
        await deliver(handlers, *(reported(dossier, status) for dossier in dossiers))


async def rows_of(db: Database, dossier: Envelope[DossierVerified]) -> list[Any]:
    async with db.transaction() as session:
        query = select(portal_sync).where(portal_sync.c.dossier_id == dossier.data.dossier_id)
        return list((await session.execute(query.order_by(portal_sync.c.id))).all())


class Simulator:
    """The portal's simulator app in process, and what it took."""

    def __init__(self) -> None:
        self.app = create_app(KEY)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://portal")

    def portal(self, api_key: str = KEY) -> HttpPortal:
        return HttpPortal("http://portal" + SYNC_PATH, api_key, self.client)

    async def fail(self, **rule: Any) -> None:
        (await self.client.post("/control/failures", json=rule)).raise_for_status()

    async def codes(self, dossier: Envelope[DossierVerified]) -> list[int]:
        found = await self.client.get("/control/received", params={"dossier": dossier.data.dossier_code})
        return [item["payload"]["TrangThaiHoSo"] for item in found.json()["received"]]

    async def calls(self, dossier: Envelope[DossierVerified] | None = None) -> list[dict[str, Any]]:
        params = {"dossier": dossier.data.dossier_code} if dossier else {}
        calls: list[dict[str, Any]] = (await self.client.get("/control/calls", params=params)).json()["calls"]
        return calls


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    simulator = Simulator()
    async with simulator.client:
        yield simulator


class Slow:
    """A portal that takes its time: relays running together overlap while they hold their claims."""

    def __init__(self, portal: HttpPortal, delay_s: float) -> None:
        self.portal = portal
        self.delay_s = delay_s

    async def send(self, changes: Sequence[Change]) -> list[Answer]:
        await asyncio.sleep(self.delay_s)
        return await self.portal.send(changes)


async def drain(relay: PortalSyncRelay, *, until: Callable[[], Any] | None = None, rounds: int = 200) -> None:
    """Run the relay until it finds nothing due (waiting out backoffs until `until()` holds, if given)."""
    for _ in range(rounds):
        if not await relay.relay_once():
            if until is None or await until():
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the relay did not finish")


# --- staging --------------------------------------------------------------------------------------------


async def test_changes_are_staged_with_the_dossier_change_in_one_statement_per_batch(
    db: Database, db_handlers: EventHandlers
) -> None:
    dossiers = [verified() for _ in range(5)]
    with statements(db) as arriving:
        await deliver(db_handlers, *dossiers)
    assert [kind for kind in arriving if "portal_sync" in kind] == [arriving[-1]]  # with the rest, at the end
    assert arriving[-1].startswith("WRITE ")
    with statements(db) as reporting:
        await deliver(db_handlers, *(reported(dossier, "processing") for dossier in dossiers))
    assert [kind for kind in reporting if "portal_sync" in kind] == [reporting[-1]]
    for dossier in dossiers:
        rows = await rows_of(db, dossier)
        assert [(row.status, row.national_status, row.state) for row in rows] == [
            ("received", 1, PENDING),
            ("accepted", 2, PENDING),
            ("processing", 4, PENDING),
        ]
        assert rows[2].payload["MaHoSo"] == dossier.data.dossier_code
        assert rows[2].payload["DonViXuLy"] == "justice-hanoi"


async def test_nothing_is_staged_when_the_dossier_change_rolls_back(
    db: Database, db_handlers: EventHandlers
) -> None:
    dossier = verified()
    with pytest.raises(RuntimeError, match="after the change"):
        async with syncing(db)() as uow:
            await db_handlers.on_verified(uow, dossier)
            await uow.flush()  # the rows are written, then the transaction fails
            raise RuntimeError("after the change")
    assert await rows_of(db, dossier) == []


async def test_without_the_portal_nothing_is_staged(db: Database, db_handlers: EventHandlers) -> None:
    dossier = verified()
    async with db.unit_of_work(RoutingUnitOfWork) as uow:  # as bootstrap() makes it without PORTAL_SYNC_URL
        await db_handlers.on_verified(uow, dossier)
    assert await rows_of(db, dossier) == []


# --- the relay against the simulator ---------------------------------------------------------------------


async def test_two_relays_share_the_work_and_each_dossier_arrives_in_order(
    db: Database, db_handlers: EventHandlers, simulator: Simulator
) -> None:
    dossiers = [verified() for _ in range(6)]
    await flow(db_handlers, dossiers)
    relays = [
        PortalSyncRelay(postgres_relay_transaction(db), Slow(simulator.portal(), 0.05), QUICK, batch_size=3)
        for _ in range(2)
    ]
    taken_by: list[list[int]] = [[], []]

    async def run(index: int) -> None:
        for _ in range(100):
            if not (count := await relays[index].relay_once()):
                return
            taken_by[index].append(count)

    await asyncio.gather(run(0), run(1))
    await drain(relays[0])  # whatever one relay left while the other held it

    assert all(taken_by), f"both relays sent changes: {taken_by}"
    calls = await simulator.calls()
    assert len(calls) == 6 * 5, "every change sent once: nothing sent by both relays"
    assert all(call["status"] == 200 and call["replayed"] is False for call in calls)
    requests = requests_of(calls)
    assert sorted(len(request) for request in requests) == sorted(taken_by[0] + taken_by[1]), "one per round"
    assert all(len({call["dossier"] for call in request}) == len(request) for request in requests)
    for dossier in dossiers:
        assert await simulator.codes(dossier) == [1, 2, 4, 9, 10]
        rows = await rows_of(db, dossier)
        assert {(row.state, row.attempts) for row in rows} == {(SENT, 1)}
        assert all(row.sent_at is not None and row.last_error is None for row in rows)


def requests_of(calls: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The simulator's calls (one per change) grouped by the request that carried them."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    for call in calls:
        grouped.setdefault(call["request"], []).append(call)
    return list(grouped.values())


async def test_a_round_goes_in_one_request_and_a_request_that_failed_is_retried_for_each_change(
    db: Database, db_handlers: EventHandlers, simulator: Simulator
) -> None:
    dossiers = [verified() for _ in range(3)]
    await deliver(db_handlers, *dossiers)  # each: 1 and 2 pending
    await simulator.fail(status=503, whole_request=True, detail="maintenance", retry_after_s=0)
    relay = PortalSyncRelay(postgres_relay_transaction(db), simulator.portal(), QUICK)

    assert await relay.relay_once() == 3
    [failed] = requests_of(await simulator.calls())
    assert [(call["dossier"], call["status"], call["whole_request"]) for call in failed] == [
        (dossier.data.dossier_code, 503, True) for dossier in dossiers
    ]
    for dossier in dossiers:
        first = (await rows_of(db, dossier))[0]
        assert (first.state, first.attempts) == (PENDING, 1), "retried, not refused"
        assert first.last_error == "HTTP 503 to the whole request: maintenance"
    await drain(relay, until=lambda: _all_sent(db, *dossiers))

    again, seconds = requests_of(await simulator.calls())[1:]
    assert [call["key"] for call in again] == [call["key"] for call in failed], "the same keys, together"
    assert [call["status"] for call in again + seconds] == [200] * 6
    for dossier in dossiers:
        assert await simulator.codes(dossier) == [1, 2]
        assert [row.attempts for row in await rows_of(db, dossier)] == [2, 1]


async def test_a_failed_send_is_retried_with_its_key_and_holds_back_the_dossiers_later_changes(
    db: Database, db_handlers: EventHandlers, simulator: Simulator
) -> None:
    failing, other = verified(), verified()
    await flow(db_handlers, [failing, other])
    await simulator.fail(status=503, count=2, dossier_code=failing.data.dossier_code, detail="maintenance")
    policy = RetryPolicy(backoff_s=0.3, backoff_max_s=0.6)
    relay = PortalSyncRelay(postgres_relay_transaction(db), simulator.portal(), policy)

    assert await relay.relay_once() == 2
    [request] = requests_of(await simulator.calls())
    assert [(call["dossier"], call["status"]) for call in request] == [
        (failing.data.dossier_code, 503),
        (other.data.dossier_code, 200),
    ], "one request, answered for each change"
    first = (await rows_of(db, failing))[0]
    assert (first.state, first.attempts, first.last_error) == (PENDING, 1, "HTTP 503: maintenance")
    assert first.next_attempt_at > first.updated_at, "due again after the backoff"
    await drain(relay, until=lambda: _all_sent(db, failing))

    assert await simulator.codes(failing) == [1, 2, 4, 9, 10]
    assert await simulator.codes(other) == [1, 2, 4, 9, 10]
    calls = await simulator.calls(failing)
    assert [call["status"] for call in calls[:3]] == [503, 503, 200]
    assert len({call["key"] for call in calls[:3]}) == 1, "the same key on every attempt"
    first = (await rows_of(db, failing))[0]
    assert (first.state, first.attempts, first.last_error) == (SENT, 3, None)


async def _all_sent(db: Database, *dossiers: Envelope[DossierVerified]) -> bool:
    rows = [row for dossier in dossiers for row in await rows_of(db, dossier)]
    return all(row.state == SENT for row in rows)


async def test_a_refusal_is_kept_as_failed_with_the_portals_reason_and_the_dossier_goes_on(
    db: Database, db_handlers: EventHandlers, simulator: Simulator
) -> None:
    dossier = verified()
    await flow(db_handlers, [dossier])
    await simulator.fail(status=422, dossier_code=dossier.data.dossier_code, detail="MaTTHC không hợp lệ")
    relay = PortalSyncRelay(postgres_relay_transaction(db), simulator.portal(), QUICK)
    await drain(relay)
    rows = await rows_of(db, dossier)
    assert [row.state for row in rows] == [FAILED, SENT, SENT, SENT, SENT]
    assert (rows[0].attempts, rows[0].last_error) == (1, "HTTP 422: MaTTHC không hợp lệ")
    assert await simulator.codes(dossier) == [2, 4, 9, 10]
    assert await relay.relay_once() == 0, "a refusal is not resent"


async def test_a_wrong_key_is_retried_not_failed(
    db: Database, db_handlers: EventHandlers, simulator: Simulator
) -> None:
    dossier = verified()
    await deliver(db_handlers, dossier)
    await PortalSyncRelay(postgres_relay_transaction(db), simulator.portal("not-the-key"), QUICK).relay_once()
    first = (await rows_of(db, dossier))[0]
    assert (first.state, first.last_error) == (
        PENDING,
        "HTTP 401 to the whole request: missing or wrong X-API-Key",
    )
    await asyncio.sleep(QUICK.backoff_s)
    await drain(PortalSyncRelay(postgres_relay_transaction(db), simulator.portal(), QUICK))
    assert await simulator.codes(dossier) == [1, 2]


async def test_a_send_whose_outcome_was_lost_is_sent_again_and_taken_as_a_repeat(
    db: Database, db_handlers: EventHandlers, simulator: Simulator
) -> None:
    dossier = verified()
    await deliver(db_handlers, dossier)

    class LostOutcome(PostgresSyncStore):
        async def record(self, *_: Any) -> None:
            raise ConnectionError("the database went away before the outcome was written")

    @asynccontextmanager
    async def crashing() -> AsyncIterator[RelayStore]:
        async with db.transaction() as session:
            yield LostOutcome(session)

    with pytest.raises(ConnectionError):
        await PortalSyncRelay(crashing, simulator.portal(), QUICK).relay_once()
    assert {row.state for row in await rows_of(db, dossier)} == {PENDING}
    await drain(PortalSyncRelay(postgres_relay_transaction(db), simulator.portal(), QUICK))

    assert await simulator.codes(dossier) == [1, 2], "taken once each"
    calls = await simulator.calls(dossier)
    assert [call["replayed"] for call in calls] == [False, True, False], "the lost one came again"
    assert calls[0]["key"] == calls[1]["key"]


async def test_a_transfer_is_kept_as_not_sent(db: Database, db_handlers: EventHandlers) -> None:
    group = verified()
    group = Envelope(group.data.model_copy(update={"procedure_code": "3.000722"}), source=group.source)
    await deliver(db_handlers, group)
    await deliver(db_handlers, reported(group, "processing"), reported(group, "result_ready"))
    rows = await rows_of(db, group)
    transferred = [row for row in rows if row.status == "transferred"]
    assert transferred and all(row.state == NOT_SENT and row.payload is None for row in transferred)


# --- what operators see ----------------------------------------------------------------------------------


async def test_operators_see_each_change_the_failures_and_the_gauges(
    db: Database, database_url: str, db_handlers: EventHandlers, simulator: Simulator
) -> None:
    dossier = verified()
    await flow(db_handlers, [dossier])
    await simulator.fail(status=422, dossier_code=dossier.data.dossier_code, detail="MaHoSo trùng")
    await simulator.fail(status=503, dossier_code=dossier.data.dossier_code, detail="busy")
    relay = PortalSyncRelay(postgres_relay_transaction(db), simulator.portal(), RetryPolicy(60, 60))
    while await relay.relay_once():
        pass  # 1 refused, 2 answered 503: due again in a minute, holding back 4, 9 and 10
    settings = RoutingSettings(
        database_url=database_url,
        database_schema=db.schema,
        operator_token="operator-secret",  # type: ignore[arg-type]
        portal_token="portal-secret",  # type: ignore[arg-type]
        portal_sync_url="http://portal" + SYNC_PATH,
    )
    service, app = bootstrap(settings)  # not started: no broker is needed to read the tables
    code = dossier.data.dossier_code
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
            operator = {"Authorization": "Bearer operator-secret"}
            assert (await client.get(f"/dossiers/{code}/portal-sync")).status_code == 401
            portal = {"Authorization": "Bearer portal-secret"}
            assert (await client.get("/portal-sync/failures", headers=portal)).status_code == 403
            missing = await client.get("/dossiers/000.00.01.H26-000000-0000/portal-sync", headers=operator)
            assert missing.status_code == 404

            shown = (await client.get(f"/dossiers/{code}/portal-sync", headers=operator)).json()
            assert shown["enabled"] is True
            assert [(c["national_status"], c["state"], c["attempts"]) for c in shown["changes"]] == [
                (1, FAILED, 1),
                (2, PENDING, 1),
                (4, PENDING, 0),
                (9, PENDING, 0),
                (10, PENDING, 0),
            ]
            assert shown["changes"][0]["error"] == "HTTP 422: MaHoSo trùng"
            assert shown["changes"][1]["error"] == "HTTP 503: busy"
            assert shown["changes"][1]["next_attempt_at"] is not None

            failures = (await client.get("/portal-sync/failures", headers=operator)).json()
            assert failures["failed_total"] == 1
            assert [(c["dossier_code"], c["national_status"]) for c in failures["failed"]] == [(code, 1)]
            assert [(c["dossier_code"], c["national_status"]) for c in failures["retrying"]] == [(code, 2)]

        await SyncSampler(db)()
        assert REGISTRY.get_sample_value("dossierbus_portal_sync_changes", {"state": "pending"}) == 4
        assert REGISTRY.get_sample_value("dossierbus_portal_sync_changes", {"state": "failed"}) == 1
        assert (REGISTRY.get_sample_value("dossierbus_portal_sync_oldest_pending_seconds") or 0) > 0
    finally:
        await service.db.dispose()
