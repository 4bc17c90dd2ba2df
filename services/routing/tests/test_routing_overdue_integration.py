"""The overdue scan on a real PostgreSQL, with the clock injected: which dossiers are reported, that each
is reported once, and what goes to the outbox and the timeline."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import dossierbus_routing
from dossierbus_routing.adapters.tables import dossiers, steps, timeline
from dossierbus_routing.overdue import OverdueWatch
from dossierbus_routing.workflow import Workflow
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.db import Database
from dossierbus_shared.db.migrate import upgrade_async
from dossierbus_shared.events import DossierOverdue
from dossierbus_shared.outbox import outbox

MIGRATIONS = Path(dossierbus_routing.__file__).parent / "migrations"
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    schema = f"routing_overdue_{uuid.uuid4().hex[:8]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    database = Database(database_url, schema)
    yield database
    await database.dispose()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def add_dossier(
    db: Database, code: str, status: str, due: date, step_status: str = "processing"
) -> None:
    dossier_id = uuid.uuid4()
    async with db.transaction() as session:
        await session.execute(
            dossiers.insert().values(
                id=dossier_id,
                code=code,
                procedure_code="1.001193",
                status=status,
                applicant_personal_id="001090000001",
                handed_over={},
                appointment_date=due,
                due_date=due,
                submitted_at=datetime(2026, 3, 2, 9, tzinfo=HANOI),
            )
        )
        await session.execute(
            steps.insert().values(
                dossier_id=dossier_id,
                step="birth-registration",
                agency_code="justice-hanoi",
                after=[],
                status=step_status,
            )
        )


async def overdue_rows(db: Database, code: str) -> tuple[list[Any], list[Any]]:
    async with db.transaction() as session:
        events = (
            await session.execute(
                select(outbox.c.payload).where(
                    outbox.c.subject == code, outbox.c.event_type == DossierOverdue.type
                )
            )
        ).all()
        entries = (
            await session.execute(
                select(timeline)
                .join(dossiers, dossiers.c.id == timeline.c.dossier_id)
                .where(dossiers.c.code == code, timeline.c.event == "overdue")
            )
        ).all()
    return list(events), list(entries)


async def test_scan_reports_each_late_open_dossier_once(db: Database) -> None:
    calendar = vietnam_calendar()
    clock = Clock(datetime(2026, 3, 6, 10, tzinfo=HANOI))  # Friday
    workflow = Workflow(default_catalogue(), calendar, clock)
    watch = OverdueWatch(db, workflow, calendar, interval_s=60, clock=clock)
    await add_dossier(db, "LATE", "processing", date(2026, 3, 5))
    await add_dossier(db, "DUE-TODAY", "processing", date(2026, 3, 6))
    await add_dossier(db, "PAUSED", "supplement_requested", date(2026, 3, 4), "supplement_requested")
    await add_dossier(db, "DONE", "returned", date(2026, 3, 4), "returned")
    await add_dossier(db, "WITHDRAWN", "withdrawn", date(2026, 3, 4), "cancelled")
    await add_dossier(db, "AT-NEXT-AGENCY", "transferred", date(2026, 3, 5), "assigned")

    assert sorted(await watch.scan()) == ["AT-NEXT-AGENCY", "LATE"]
    assert await watch.scan() == []  # once per dossier

    events, entries = await overdue_rows(db, "LATE")
    assert len(events) == len(entries) == 1
    event = DossierOverdue.model_validate_json(events[0].payload)
    assert (event.status, event.due_date) == ("processing", date(2026, 3, 5))
    assert event.open_steps == ["birth-registration@justice-hanoi"]
    assert event.detected_at == clock.now
    assert entries[0].note == (
        "due 2026-03-05, not finished on 2026-03-06; open: birth-registration@justice-hanoi"
    )
    assert entries[0].event_id is not None
    for code in ("DUE-TODAY", "PAUSED", "DONE", "WITHDRAWN"):
        assert await overdue_rows(db, code) == ([], []), code

    clock.now = datetime(2026, 3, 9, 8, tzinfo=HANOI)  # Monday: "DUE-TODAY" is now late as well
    assert await watch.scan() == ["DUE-TODAY"]
