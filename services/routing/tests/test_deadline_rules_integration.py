"""Indicator rules on a real PostgreSQL, fed as in the service: the verifications through the handlers that
consume them, the status changes as routing publishes them; indicator 2.1 judged at the period's end, and
a paused dossier not overdue."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from dossierbus_routing.adapters.indicators import counts
from dossierbus_routing.domain import Context
from dossierbus_routing.entrypoints.events import EventHandlers
from dossierbus_routing.testing import deliver
from dossierbus_routing.unit_of_work import RoutingUnitOfWork
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.db import Database
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    Channel,
    DossierStatus,
    DossierStatusChanged,
    DossierVerified,
)

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
BIRTH = "1.001193"
APPLICANT = Applicant(personal_id="001085123456", full_name="Nguyễn Văn An", date_of_birth=date(1985, 4, 12))


def verified(code: str, submitted_at: datetime, due: date) -> DossierVerified:
    return DossierVerified(
        dossier_id=uuid.uuid4(),
        dossier_code=code,
        procedure_code=BIRTH,
        receiving_unit="000.00.01.H26",
        outcome="verified",
        channel=Channel.DIRECT,
        applicant=APPLICANT,
        form={"child_full_name": "Nguyễn Thị Bình"},
        submitted_at=submitted_at,
        due_date=due,
        verified_at=submitted_at,
    )


def changed(event: DossierVerified, status: DossierStatus, at: datetime) -> DossierStatusChanged:
    return DossierStatusChanged(
        dossier_id=event.dossier_id,
        dossier_code=event.dossier_code,
        procedure_code=BIRTH,
        previous_status=None,
        status=status,
        due_date=event.due_date,
        changed_at=at,
    )


async def test_a_past_period_is_judged_at_its_end_and_a_paused_dossier_is_not_overdue(db: Database) -> None:
    calendar = vietnam_calendar()
    handlers = EventHandlers(
        Context(default_catalogue(), calendar), lambda: db.unit_of_work(RoutingUnitOfWork)
    )
    november = datetime(2026, 11, 2, 9, tzinfo=HANOI)
    late_after_period = verified("FINISHED-IN-DECEMBER", november, date(2026, 11, 2))
    paused = verified("PAUSED", november, date(2026, 11, 2))
    await deliver(handlers, *(Envelope(event, source="test") for event in (late_after_period, paused)))
    changes = [
        changed(paused, DossierStatus.SUPPLEMENT_REQUESTED, november),
        changed(late_after_period, DossierStatus.RESULT_READY, datetime(2026, 12, 3, 10, tzinfo=HANOI)),
    ]
    async with db.unit_of_work(RoutingUnitOfWork) as uow:  # published: the 766 records follow
        uow.stage(*(Envelope(change, source="urn:dossierbus:routing") for change in changes))

    async with db.transaction() as session:
        [november_as_of_its_end] = await counts(
            session,
            calendar,
            today=date(2026, 12, 15),
            received_from=date(2026, 11, 1),
            received_to=date(2026, 11, 30),
        )
        [as_of_today] = await counts(session, calendar, today=date(2026, 12, 15))

    # At the end of November the first dossier was unfinished and overdue; the paused one was not overdue.
    assert november_as_of_its_end.processed == 0
    assert november_as_of_its_end.in_progress == 2
    assert november_as_of_its_end.overdue_in_progress == 1
    # Judged today, the first one has ended, late; the paused one is still not overdue.
    assert (as_of_today.processed, as_of_today.late, as_of_today.overdue_in_progress) == (1, 1, 0)
