"""Deadline and indicator rules on a real PostgreSQL, fed through the handlers that consume the events:
indicator 2.1 judged at the period's end, a paused dossier not overdue, provisional deadlines on the
assignment and the timeline, and the national code of a refusal."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

import dossierbus_routing
from dossierbus_routing.adapters.tables import dossiers, timeline
from dossierbus_routing.indicator_projection import IndicatorProjection
from dossierbus_routing.workflow import Workflow
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.db import Database
from dossierbus_shared.db.migrate import upgrade_async
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    Channel,
    DossierAssigned,
    DossierStatus,
    DossierStatusChanged,
    DossierVerified,
)
from dossierbus_shared.outbox import outbox
from dossierbus_shared.unit_of_work import UnitOfWork

MIGRATIONS = Path(dossierbus_routing.__file__).parent / "migrations"
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
BIRTH = "1.001193"
APPLICANT = Applicant(personal_id="001085123456", full_name="Nguyễn Văn An", date_of_birth=date(1985, 4, 12))
FORM = {
    "child_full_name": "Nguyễn Thị Bình",
    "child_date_of_birth": "2027-02-01",
    "child_sex": "female",
    "place_of_birth": "Hà Nội",
    "relationship": "father",
}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    schema = f"routing_deadlines_{uuid.uuid4().hex[:8]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    database = Database(database_url, schema)
    yield database
    await database.dispose()


def verified(code: str, submitted_at: datetime, due: date, outcome: str = "verified") -> DossierVerified:
    return DossierVerified(
        dossier_id=uuid.uuid4(),
        dossier_code=code,
        procedure_code=BIRTH,
        receiving_unit="000.00.01.H26",
        outcome=outcome,  # type: ignore[arg-type]
        reasons=["the applicant is not in the population database"] if outcome == "rejected" else [],
        channel=Channel.DIRECT,
        applicant=APPLICANT,
        form=FORM,
        submitted_at=submitted_at,
        due_date=due,
        verified_at=submitted_at,
    )


def changed(
    event: DossierVerified, status: DossierStatus, at: datetime, due: date | None = None
) -> DossierStatusChanged:
    return DossierStatusChanged(
        dossier_id=event.dossier_id,
        dossier_code=event.dossier_code,
        procedure_code=BIRTH,
        previous_status=None,
        status=status,
        due_date=due or event.due_date,
        changed_at=at,
    )


async def test_a_past_period_is_judged_at_its_end_and_a_paused_dossier_is_not_overdue(db: Database) -> None:
    projection = IndicatorProjection(default_catalogue(), vietnam_calendar())
    november = datetime(2026, 11, 2, 9, tzinfo=HANOI)
    late_after_period = verified("FINISHED-IN-DECEMBER", november, date(2026, 11, 2))
    paused = verified("PAUSED", november, date(2026, 11, 2))
    async with db.transaction() as session:
        for event in (late_after_period, paused):
            await projection.on_verified(UnitOfWork(session), Envelope(event, source="test"))
        await projection.on_status_changed(
            UnitOfWork(session),
            Envelope(changed(paused, DossierStatus.SUPPLEMENT_REQUESTED, november), source="test"),
        )
        await projection.on_status_changed(
            UnitOfWork(session),
            Envelope(
                changed(
                    late_after_period, DossierStatus.RESULT_READY, datetime(2026, 12, 3, 10, tzinfo=HANOI)
                ),
                source="test",
            ),
        )

    async with db.transaction() as session:
        [november_as_of_its_end] = await projection.counts(
            session, today=date(2026, 12, 15), received_from=date(2026, 11, 1), received_to=date(2026, 11, 30)
        )
        [as_of_today] = await projection.counts(session, today=date(2026, 12, 15))

    # At the end of November the first dossier was unfinished and overdue; the paused one was not overdue.
    assert november_as_of_its_end.processed == 0
    assert november_as_of_its_end.in_progress == 2
    assert november_as_of_its_end.overdue_in_progress == 1
    # Judged today, the first one has ended, late; the paused one is still not overdue.
    assert (as_of_today.processed, as_of_today.late, as_of_today.overdue_in_progress) == (1, 1, 0)


def sample(name: str, issued_on: str) -> float:
    return REGISTRY.get_sample_value(name, {"issued_on": issued_on}) or 0.0


async def test_an_assignment_in_an_unannounced_year_is_provisional_on_the_event_and_timeline(
    db: Database,
) -> None:
    calendar = vietnam_calendar()
    received = datetime(2027, 2, 3, 9, tzinfo=HANOI)
    workflow = Workflow(default_catalogue(), calendar, lambda: received)
    event = verified("TET-2027", received, date(2027, 2, 3))
    before = sample("dossierbus_provisional_deadlines_total", "assigned")
    async with db.transaction() as session:
        await workflow.on_verified(UnitOfWork(session), Envelope(event, source="test"))

    async with db.transaction() as session:
        [payload] = (
            await session.execute(
                select(outbox.c.payload).where(
                    outbox.c.subject == "TET-2027", outbox.c.event_type == DossierAssigned.type
                )
            )
        ).scalars()
        notes = dict(
            (
                await session.execute(
                    select(timeline.c.event, timeline.c.note)
                    .join(dossiers, dossiers.c.id == timeline.c.dossier_id)
                    .where(dossiers.c.code == "TET-2027", timeline.c.event.in_(["submitted", "assigned"]))
                )
            ).all()
        )

    assert DossierAssigned.model_validate_json(payload).deadline_provisional is True
    assert "deadline_provisional=true" in notes["submitted"] and "2027" in notes["submitted"]
    assert "deadline_provisional=true" in notes["assigned"]
    assert sample("dossierbus_provisional_deadlines_total", "assigned") == before + 1


async def test_a_refusal_at_reception_is_national_status_3(db: Database) -> None:
    received = datetime(2026, 3, 2, 9, tzinfo=HANOI)
    workflow = Workflow(default_catalogue(), vietnam_calendar(), lambda: received)
    event = verified("REFUSED", received, date(2026, 3, 2), outcome="rejected")
    async with db.transaction() as session:
        await workflow.on_verified(UnitOfWork(session), Envelope(event, source="test"))
    # The outbox rows are written when the transaction commits.
    async with db.transaction() as session:
        payloads = (
            await session.execute(
                select(outbox.c.payload).where(
                    outbox.c.subject == "REFUSED", outbox.c.event_type == DossierStatusChanged.type
                )
            )
        ).scalars()
        changes = [DossierStatusChanged.model_validate_json(payload) for payload in payloads]

    [rejection] = [change for change in changes if change.status is DossierStatus.REJECTED]
    assert rejection.national_status == 3
