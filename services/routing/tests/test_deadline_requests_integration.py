"""Extensions and supplement deadlines on a real PostgreSQL: an extended dossier and a step's supplement
deadline come back as they were saved (as the fake keeps them), and the supplement deadline scan refuses
each dossier once, skipping those another transaction holds."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from dossierbus_routing.adapters.tables import steps, timeline
from dossierbus_routing.domain import StepStatus
from dossierbus_routing.entrypoints.events import EventHandlers
from dossierbus_routing.entrypoints.overdue import SupplementDeadlineWatch
from dossierbus_routing.testing import SettableClock, deliver
from dossierbus_routing.unit_of_work import MemoryStore, RoutingUnitOfWork
from dossierbus_shared.db import Database
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    Channel,
    DossierDeadlineExtended,
    DossierExtensionRequested,
    DossierStatus,
    DossierStatusChanged,
    DossierStatusReported,
    DossierVerified,
)
from dossierbus_shared.outbox import outbox

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = datetime(2026, 3, 2, 9, tzinfo=HANOI)
APPLICANT = Applicant(personal_id="001085123456", full_name="Nguyễn Văn An", date_of_birth=date(1985, 4, 12))


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


def reported(dossier: Envelope[DossierVerified], status: str, **extra: Any) -> Envelope[Any]:
    data = DossierStatusReported(
        dossier_id=dossier.data.dossier_id,
        dossier_code=dossier.data.dossier_code,
        agency_code="justice-hanoi",
        step="birth-registration",
        status=DossierStatus(status),
        reported_at=MONDAY,
        **extra,
    )
    return Envelope(data, source="urn:agency:justice-hanoi")


def extension(dossier: Envelope[DossierVerified], due: date) -> Envelope[Any]:
    data = DossierExtensionRequested(
        dossier_id=dossier.data.dossier_id,
        dossier_code=dossier.data.dossier_code,
        agency_code="justice-hanoi",
        step="birth-registration",
        due_date=due,
        reason="Cần xác minh thêm",
        requested_at=MONDAY,
    )
    return Envelope(data, source="urn:agency:justice-hanoi")


async def test_an_extension_and_a_supplement_deadline_come_back_as_saved(
    db: Database, db_handlers: EventHandlers, handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = verified()
    events = [
        arrived,
        reported(arrived, "processing"),
        extension(arrived, date(2026, 3, 10)),
        extension(arrived, date(2026, 3, 7)),  # refused: a Saturday, and not after the new date
        reported(arrived, "supplement_requested", supplement_deadline_working_days=3),
    ]
    for envelope in events:
        await deliver(db_handlers, envelope)
        await deliver(handlers, envelope)

    async with db.unit_of_work(RoutingUnitOfWork) as uow:
        saved = await uow.dossiers.get(arrived.data.dossier_id)
        kept = (
            await uow.session.execute(
                select(timeline.c.event, timeline.c.outcome)
                .where(timeline.c.dossier_id == arrived.data.dossier_id)
                .order_by(timeline.c.id)
            )
        ).all()
    assert saved == store.dossiers[arrived.data.dossier_id]
    assert saved is not None
    assert (saved.due_date, saved.original_due_date, saved.extensions, saved.extended_working_days) == (
        date(2026, 3, 10),
        date(2026, 3, 6),
        1,
        2,
    )
    assert saved.steps["birth-registration"].supplement_due_date == date(2026, 3, 5)
    assert ("deadline-extended", "applied") in kept
    assert ("extension-refused", "refused") in kept

    async with db.transaction() as session:
        [payload] = (
            await session.execute(
                select(outbox.c.payload).where(outbox.c.event_type == DossierDeadlineExtended.type)
            )
        ).scalars()
    assert DossierDeadlineExtended.model_validate_json(payload).original_due_date == date(2026, 3, 6)


async def test_the_supplement_deadline_scan_refuses_each_dossier_once_and_skips_those_held_elsewhere(
    db: Database, db_handlers: EventHandlers, clock: SettableClock
) -> None:
    late, waiting = verified(), verified()
    await deliver(db_handlers, late, waiting)
    await deliver(
        db_handlers,
        reported(late, "processing"),
        reported(waiting, "processing"),
        reported(late, "supplement_requested", supplement_deadline_working_days=1),
        reported(waiting, "supplement_requested", supplement_deadline_working_days=5),
    )
    watch = SupplementDeadlineWatch(db_handlers.unit_of_work, db_handlers.context, interval_s=60)
    clock.now = datetime(2026, 3, 4, 9, tzinfo=HANOI)  # the day after the late one's last day

    async with db.unit_of_work(RoutingUnitOfWork) as other:  # another replica holds it
        held = await other.dossiers.unsupplemented_candidates(clock.now.date(), 10)
        assert [dossier.code for dossier in held] == [late.data.dossier_code]
        assert await watch.scan() == []
    assert await watch.scan() == [late.data.dossier_code]
    assert await watch.scan() == []

    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(steps.c.status, steps.c.supplement_due_date).where(
                    steps.c.dossier_id == late.data.dossier_id
                )
            )
        ).all()
        payloads = (
            await session.execute(
                select(outbox.c.payload).where(outbox.c.event_type == DossierStatusChanged.type)
            )
        ).scalars()
        changes = [DossierStatusChanged.model_validate_json(payload) for payload in payloads]
    assert [tuple(row) for row in rows] == [(StepStatus.CANCELLED.value, None)]
    [refused] = [change for change in changes if change.status is DossierStatus.REJECTED]
    assert (refused.dossier_id, refused.national_status, refused.supplement_due_date) == (
        late.data.dossier_id,
        8,
        date(2026, 3, 3),
    )
