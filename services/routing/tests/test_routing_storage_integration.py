"""Routing's repositories on a real PostgreSQL: a dossier comes back as it was saved (as the in-memory fake
keeps it), a batch is loaded in one query and written in one statement whatever its size,
the overdue scan claims each dossier once, skipping those another transaction holds, and a dossier is
read over a pooled connection the server dropped as over any other."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI, Request
from sqlalchemy import select

from dossierbus_devstack.dropped import one_pooled_connection
from dossierbus_devstack.statements import statements
from dossierbus_routing import views
from dossierbus_routing.adapters.tables import dossiers, timeline
from dossierbus_routing.domain import Context
from dossierbus_routing.entrypoints import http, indicators
from dossierbus_routing.entrypoints.events import EventHandlers
from dossierbus_routing.entrypoints.overdue import OverdueWatch
from dossierbus_routing.portal_sync import http as portal_http
from dossierbus_routing.testing import SettableClock, deliver
from dossierbus_routing.unit_of_work import MemoryStore, RoutingUnitOfWork
from dossierbus_shared.auth import Caller, Role
from dossierbus_shared.db import Database
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    Channel,
    DossierOverdue,
    DossierStatus,
    DossierStatusReported,
    DossierVerified,
    ResultDocument,
)
from dossierbus_shared.outbox import outbox

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = datetime(2026, 3, 2, 9, tzinfo=HANOI)
APPLICANT = Applicant(personal_id="001085123456", full_name="Nguyễn Văn An", date_of_birth=date(1985, 4, 12))


def verified(procedure: str = "1.001193", due: date = date(2026, 3, 6)) -> Envelope[DossierVerified]:
    data = DossierVerified(
        dossier_id=uuid.uuid4(),
        dossier_code=f"000.00.01.H26-260302-{uuid.uuid4().hex[:6]}",
        procedure_code=procedure,
        receiving_unit="000.00.01.H26",
        outcome="verified",
        channel=Channel.ONLINE,
        applicant=APPLICANT,
        form={"child_full_name": "Nguyễn Thị Bình"},
        national_facts={"full_name": "Nguyễn Văn An"},
        submitted_at=MONDAY,
        due_date=due,
        verified_at=MONDAY,
    )
    return Envelope(data, source="urn:dossierbus:registry")


def reported(dossier: Envelope[DossierVerified], step: str, status: str, agency: str) -> Envelope[Any]:
    documents = [ResultDocument(name="r.pdf", url=f"https://ketqua.{agency}.gov.vn/r.pdf")]
    data = DossierStatusReported(
        dossier_id=dossier.data.dossier_id,
        dossier_code=dossier.data.dossier_code,
        agency_code=agency,
        step=step,
        status=DossierStatus(status),
        result_documents=documents if status == "result_ready" else [],
        reported_at=MONDAY,
    )
    return Envelope(data, source=f"urn:agency:{agency}")


async def test_a_dossier_comes_back_as_it_was_saved_and_as_the_fake_keeps_it(
    db: Database, db_handlers: EventHandlers, handlers: EventHandlers, store: MemoryStore
) -> None:
    group = verified("3.000722")
    reports = [
        reported(group, "birth-registration", status, "justice-hanoi")
        for status in ("processing", "result_ready")
    ] + [reported(group, "identity-card", "processing", "police-hanoi")]
    for batch in ([group, *reports[:1]], reports[1:]):
        await deliver(db_handlers, *batch)
        await deliver(handlers, *batch)

    async with db.unit_of_work(RoutingUnitOfWork) as uow:
        saved = await uow.dossiers.get(group.data.dossier_id)
        rows = (
            await uow.session.execute(
                select(timeline).where(timeline.c.dossier_id == group.data.dossier_id).order_by(timeline.c.id)
            )
        ).all()
    assert saved == store.dossiers[group.data.dossier_id]
    assert saved is not None and saved.status is DossierStatus.PROCESSING
    assert saved.steps["birth-registration"].documents == [
        {"name": "r.pdf", "url": "https://ketqua.justice-hanoi.gov.vn/r.pdf", "sha256": None}
    ]
    kept = [entry for _, entry in store.timeline]
    assert [(row.event, row.status, row.step, row.agency_code, row.note, row.event_id) for row in rows] == [
        (entry.event, entry.status, entry.step, entry.agency_code, entry.note, entry.event_id)
        for entry in kept
    ]


async def test_a_batch_is_loaded_in_one_query_and_written_in_one_statement_whatever_its_size(
    db: Database, db_handlers: EventHandlers
) -> None:
    written: dict[int, list[str]] = {}
    for size in (1, 20):
        arrivals = [verified() for _ in range(size)]
        with statements(db) as arriving:
            await deliver(db_handlers, *arrivals)
        reports = [
            reported(arrived, "birth-registration", "processing", "justice-hanoi") for arrived in arrivals
        ]
        with statements(db) as reporting:
            await deliver(db_handlers, *reports)
        written[size] = [*arriving, "|", *reporting]

    assert written[1] == written[20]
    assert written[20] == [
        "WITH dossiers",  # the dossiers, locked, with their steps
        "SELECT indicator_dossiers",
        "WRITE outbox dossiers steps timeline indicator_dossiers",  # at the commit, in one statement
        "|",
        "WITH dossiers",
        "SELECT indicator_dossiers",  # their 766 records follow the status changes published
        "WRITE outbox dossiers steps timeline indicator_dossiers",
    ]


async def test_the_overdue_scan_reports_each_late_dossier_once_and_skips_those_held_elsewhere(
    db: Database, db_handlers: EventHandlers, clock: SettableClock
) -> None:
    late, due_today, paused = verified(due=date(2026, 3, 5)), verified(), verified(due=date(2026, 3, 4))
    await deliver(db_handlers, late, due_today, paused)
    await deliver(
        db_handlers,
        *(
            reported(dossier, "birth-registration", "processing", "justice-hanoi")
            for dossier in (late, due_today, paused)
        ),
        reported(paused, "birth-registration", "supplement_requested", "justice-hanoi"),
    )
    watch = OverdueWatch(db_handlers.unit_of_work, db_handlers.context, interval_s=60)
    clock.now = datetime(2026, 3, 6, 10, tzinfo=HANOI)  # Friday

    async with db.unit_of_work(RoutingUnitOfWork) as other:  # another replica holds the late dossier
        assert [d.code for d in await other.dossiers.overdue_candidates(clock.now.date(), 10)] == [
            late.data.dossier_code
        ]
        assert await watch.scan() == []
    assert await watch.scan() == [late.data.dossier_code]
    assert await watch.scan() == []

    async with db.transaction() as session:
        [payload] = (
            await session.execute(select(outbox.c.payload).where(outbox.c.event_type == DossierOverdue.type))
        ).scalars()
        [entry] = (await session.execute(select(timeline).where(timeline.c.event == "overdue"))).all()
        overdue_at = (
            await session.execute(select(dossiers.c.overdue_at).where(dossiers.c.id == late.data.dossier_id))
        ).scalar_one()
    event = DossierOverdue.model_validate_json(payload)
    assert (event.dossier_code, event.open_steps, event.detected_at) == (
        late.data.dossier_code,
        ["birth-registration@justice-hanoi"],
        clock.now,
    )
    assert (entry.dossier_id, entry.status) == (late.data.dossier_id, "processing")
    assert entry.note == "due 2026-03-05, not finished on 2026-03-06; open: birth-registration@justice-hanoi"
    assert overdue_at == clock.now

    clock.now = datetime(2026, 3, 9, 8, tzinfo=HANOI)  # Monday: the one due on Friday is late as well
    assert await watch.scan() == [due_today.data.dossier_code]


async def test_a_dossier_is_read_over_a_pooled_connection_the_server_dropped(
    db: Database, context: Context, database_url: str
) -> None:
    dossier = verified()
    async with one_pooled_connection(database_url, db.schema) as pooled:
        units = EventHandlers(context, lambda: pooled.db.unit_of_work(RoutingUnitOfWork))
        await deliver(units, dossier)
        await pooled.drop()
        shown = await http._view(
            dossier.data.dossier_code, Caller(Role.PORTAL, "portal"), context, units.unit_of_work
        )

    assert len(pooled.invalidations) == 1, "the first try met the dead connection; the second had a fresh one"
    assert shown["dossier_code"] == dossier.data.dossier_code


async def test_a_dossier_is_shown_as_one_snapshot_whatever_commits_while_it_is_read(
    db: Database, db_handlers: EventHandlers, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    dossier = verified()
    await deliver(db_handlers, dossier)
    document = views.dossier_document

    async def report_while_reading(*args: Any) -> dict[str, Any]:
        # The dossier's row is read; its steps and timeline not yet: an agency's report commits now.
        await deliver(db_handlers, reported(dossier, "birth-registration", "processing", "justice-hanoi"))
        return await document(*args)

    monkeypatch.setattr(http, "dossier_document", report_while_reading)
    shown = await http._view(
        dossier.data.dossier_code, Caller(Role.PORTAL, "portal"), context, db_handlers.unit_of_work
    )
    statuses = [entry["status"] for entry in shown["timeline"] if entry["event"] == "status-changed"]
    assert shown["status"] == statuses[-1] == "accepted", "the timeline goes no further than the status"
    monkeypatch.undo()
    again = await http._view(
        dossier.data.dossier_code, Caller(Role.PORTAL, "portal"), context, db_handlers.unit_of_work
    )
    assert again["status"] == "processing"


async def test_the_indicators_and_the_portal_sync_are_read_over_a_pooled_connection_the_server_dropped(
    db: Database, context: Context, database_url: str
) -> None:
    dossier = verified()
    operator = Caller(Role.OPERATOR, "operator")
    async with one_pooled_connection(database_url, db.schema) as pooled:
        units = EventHandlers(context, lambda: pooled.db.unit_of_work(RoutingUnitOfWork))
        await deliver(units, dossier)
        request = Request({"type": "http", "app": FastAPI()})
        code, opened = dossier.data.dossier_code, units.unit_of_work
        reads = (
            lambda: indicators.indicators(context, opened, _caller=operator),
            lambda: portal_http.dossier_sync(code, request, opened, operator),
            lambda: portal_http.failures(request, opened, operator),
        )
        answers: list[Any] = await pooled.each_after_a_drop(reads)

    assert len(pooled.invalidations) == 3, "each first try met the dead connection; each second a fresh one"
    shown, synced, failed = answers
    assert sum(row["received"] for row in shown["indicators"]) >= 1
    assert synced["dossier_code"] == dossier.data.dossier_code and failed["failed_total"] == 0
