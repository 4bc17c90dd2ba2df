"""Fees on a real PostgreSQL: a dossier held in financial obligation comes back with its payment as it was
saved (as the in-memory fake keeps it), the view shows `financial_obligation` and the payment, the overdue
scan leaves a held dossier alone, and the Decision 766 counts of indicator 3.6 come from the projection."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from dossierbus_routing.adapters.indicators import counts
from dossierbus_routing.domain.payment import FINANCIAL_OBLIGATION
from dossierbus_routing.entrypoints.events import EventHandlers
from dossierbus_routing.entrypoints.overdue import OverdueWatch
from dossierbus_routing.testing import SettableClock, deliver
from dossierbus_routing.unit_of_work import MemoryStore, RoutingUnitOfWork
from dossierbus_routing.views import dossier_by_code, dossier_document
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.db import Database
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import Applicant, Channel, DossierPaid, DossierPaymentRequested, DossierVerified
from dossierbus_shared.outbox import outbox

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = datetime(2026, 3, 2, 9, tzinfo=HANOI)
THURSDAY = datetime(2026, 3, 5, 10, tzinfo=HANOI)
APPLICANT = Applicant(personal_id="001085123456", full_name="Nguyễn Văn An", date_of_birth=date(1985, 4, 12))
RESIDENCE = "1.004194"


def verified(procedure: str = RESIDENCE, due: date = date(2026, 3, 4)) -> Envelope[DossierVerified]:
    data = DossierVerified(
        dossier_id=uuid.uuid4(),
        dossier_code=f"000.00.01.H26-260302-{uuid.uuid4().hex[:6]}",
        procedure_code=procedure,
        receiving_unit="000.00.01.H26",
        outcome="verified",
        channel=Channel.ONLINE,
        applicant=APPLICANT,
        form={"new_address": "Số 9, phường Hoàn Kiếm"},
        national_facts={"full_name": "Nguyễn Văn An"},
        submitted_at=MONDAY,
        due_date=due,
        verified_at=MONDAY,
    )
    return Envelope(data, source="urn:dossierbus:registry")


def paid(dossier: Envelope[DossierVerified], amount: int = 10_000) -> Envelope[DossierPaid]:
    data = DossierPaid(
        dossier_id=dossier.data.dossier_id,
        dossier_code=dossier.data.dossier_code,
        amount_vnd=amount,
        receipt_number="BL-0001",
        payment_reference="PAY-0001",
        paid_at=THURSDAY,
    )
    return Envelope(data, source="urn:dossierbus:intake")


async def test_a_held_dossier_and_its_payment_come_back_as_saved_and_as_the_fake_keeps_them(
    db: Database,
    db_handlers: EventHandlers,
    handlers: EventHandlers,
    store: MemoryStore,
    clock: SettableClock,
) -> None:
    arrived = verified()
    await deliver(db_handlers, arrived)
    await deliver(handlers, arrived)

    async with db.unit_of_work(RoutingUnitOfWork) as uow:
        held = await uow.dossiers.get(arrived.data.dossier_id)
        row = await dossier_by_code(uow.session, arrived.data.dossier_code)
        assert row is not None
        view = await dossier_document(uow.session, row, default_catalogue(), vietnam_calendar())
    assert held == store.dossiers[arrived.data.dossier_id]
    assert held is not None and held.awaiting_payment
    assert view["status"] == FINANCIAL_OBLIGATION and view["deadline"]["paused"] is True
    assert view["payment"]["state"] == "requested" and view["payment"]["national_status"] == 6
    assert view["payment"]["fees"] == [
        {"step": "permanent-residence", "agency_code": "police-hanoi", "fee_vnd": 10_000}
    ]

    clock.now = THURSDAY
    await deliver(db_handlers, paid(arrived))
    async with db.unit_of_work(RoutingUnitOfWork) as uow:
        row = await dossier_by_code(uow.session, arrived.data.dossier_code)
        assert row is not None
        view = await dossier_document(uow.session, row, default_catalogue(), vietnam_calendar())
    assert view["status"] == "accepted"
    assert (view["payment"]["state"], view["payment"]["receipt_number"]) == ("paid", "BL-0001")
    assert view["payment"]["national_status"] is None
    assert view["steps"][0]["status"] == "assigned"
    assert view["due_date"] == "2026-03-09"  # 4 March moved by the 3 working days it waited
    assert [entry["event"] for entry in view["timeline"]][-3:] == ["paid", "clock-resumed", "assigned"]


async def test_the_overdue_scan_leaves_a_dossier_held_for_its_fees_alone(
    db_handlers: EventHandlers, clock: SettableClock
) -> None:
    held, free = verified(), verified("1.001193")
    await deliver(db_handlers, held, free)
    watch = OverdueWatch(db_handlers.unit_of_work, db_handlers.context, interval_s=60)
    clock.now = datetime(2026, 3, 10, 10, tzinfo=HANOI)  # past both due dates

    assert await watch.scan() == [free.data.dossier_code]


async def test_indicator_3_6_counts_the_dossiers_that_owed_fees_and_those_paid(
    db: Database, db_handlers: EventHandlers
) -> None:
    arrivals = [verified(), verified(), verified("1.001193")]
    await deliver(db_handlers, *arrivals)  # two payment requests published, and followed by 766
    async with db.transaction() as session:
        requested = await session.scalar(
            select(func.count())
            .select_from(outbox)
            .where(outbox.c.event_type == DossierPaymentRequested.type)
        )
    assert requested == 2
    await deliver(db_handlers, paid(arrivals[0]), paid(arrivals[1], amount=1))

    async with db.transaction() as session:
        found = await counts(session, vietnam_calendar(), today=date(2026, 3, 5))
    by_procedure = {item.procedure_code: item for item in found}
    assert (by_procedure[RESIDENCE].fee_required, by_procedure[RESIDENCE].paid_online) == (2, 1)
    assert (by_procedure["1.001193"].fee_required, by_procedure["1.001193"].paid_online) == (0, 0)
