"""Batches on a real PostgreSQL: what a batch of events and a batch of deliveries cost the database, what
they keep, and a crash of a dispatcher sending in several lanes."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from dossierbus_devstack.statements import counting
from dossierbus_notifications.adapters.tables import delivery_attempts, notifications, recipients
from dossierbus_notifications.bootstrap import MIGRATIONS
from dossierbus_notifications.channels import Outgoing
from dossierbus_notifications.delivery import Dispatcher
from dossierbus_notifications.domain.notification import RetryPolicy
from dossierbus_notifications.domain.notifying import Notifier
from dossierbus_notifications.entrypoints.events import EventHandlers
from dossierbus_notifications.messages import Templates
from dossierbus_notifications.unit_of_work import NotificationsUnitOfWork, UnitsOfWork
from dossierbus_shared.db import Database
from dossierbus_shared.db.migrate import upgrade_async
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import Applicant, Channel, DossierStatus, DossierStatusChanged, DossierSubmitted

BATCH = 10


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    schema = f"n{uuid.uuid4().hex[:10]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    database = Database(database_url, schema, pool_size=4)
    yield database
    await database.dispose()


def units(db: Database) -> UnitsOfWork:
    return lambda: db.unit_of_work(NotificationsUnitOfWork)


def submitted(number: int) -> Envelope[DossierSubmitted]:
    return Envelope(
        DossierSubmitted(
            dossier_id=uuid.uuid4(),
            dossier_code=f"000.00.01.H26-261126-{number:04d}",
            procedure_code="1.001193",
            receiving_unit="000.00.01.H26",
            channel=Channel.ONLINE,
            applicant=Applicant(
                personal_id="001085123456",
                full_name="Nguyễn Văn An",
                date_of_birth=date(1985, 4, 12),
                email=f"applicant{number}@example.vn",
            ),
            form={},
            submitted_at=datetime.now(UTC),
            due_date=date(2026, 11, 27),
        ),
        source="urn:dossierbus:intake:000.00.01.H26",
    )


def accepted(dossier: Envelope[DossierSubmitted]) -> Envelope[DossierStatusChanged]:
    return Envelope(
        DossierStatusChanged(
            dossier_id=dossier.data.dossier_id,
            dossier_code=dossier.data.dossier_code,
            procedure_code="1.001193",
            previous_status=DossierStatus.RECEIVED,
            status=DossierStatus.ACCEPTED,
            due_date=date(2026, 11, 27),
            changed_at=datetime.now(UTC),
        ),
        source="urn:dossierbus:routing",
    )


async def consume(db: Database, *envelopes: Envelope[Any]) -> None:
    """As the consumer does with a batch (less its inbox): load for all, handle each, flush once."""
    handlers = EventHandlers(Notifier(Templates()))
    async with db.unit_of_work(NotificationsUnitOfWork) as uow:
        await uow.load(envelopes)
        for envelope in envelopes:
            handle = (
                handlers.on_submitted if isinstance(envelope.data, DossierSubmitted) else handlers.on_event
            )
            await handle(uow, envelope)


async def statuses(db: Database) -> Counter[str]:
    async with db.transaction() as session:
        return Counter((await session.execute(select(notifications.c.status))).scalars())


async def test_a_batch_of_events_is_one_query_and_one_write(db: Database) -> None:
    submissions = [submitted(number) for number in range(BATCH)]
    await consume(db, submitted(BATCH))  # the pool's connection is made

    with counting(db) as on_submissions:
        await consume(db, *submissions)
    with counting(db) as on_changes:
        await consume(db, *(accepted(dossier) for dossier in submissions))

    print(f"\n{BATCH} submissions: {dict(on_submissions)}; {BATCH} status changes: {dict(on_changes)}")
    # The recipients of the batch, then the recipients and the notifications kept, in one statement.
    assert on_submissions == {"statements": 2, "transactions": 1}
    # The recipients of the batch, then the notifications kept.
    assert on_changes == {"statements": 2, "transactions": 1}
    async with db.transaction() as session:
        assert len((await session.execute(select(recipients))).all()) == BATCH + 1
    assert await statuses(db) == {"pending": 2 * BATCH + 1}


async def test_notifications_that_awaited_the_recipient_are_addressed_when_the_submission_comes(
    db: Database,
) -> None:
    dossier = submitted(1)
    await consume(db, accepted(dossier))
    assert await statuses(db) == {"awaiting_recipient": 1}

    await consume(db, dossier)

    assert await statuses(db) == {"pending": 2}
    async with db.transaction() as session:
        addressed = (await session.execute(select(notifications.c.recipient))).scalars().all()
    assert addressed == ["applicant1@example.vn"] * 2


class Sink:
    """A channel that takes every message at once; `hang_at`: the number of the message (from 1) that
    never completes, as when the process dies while sending it."""

    name = "email"

    def __init__(self, sent: list[str], *, hang_at: int | None = None) -> None:
        self.sent = sent
        self.hang_at = hang_at
        self.hanging = asyncio.Event()

    async def send(self, outgoing: Outgoing) -> None:
        self.sent.append(outgoing.message_id)
        if len(self.sent) == self.hang_at:
            self.hanging.set()
            await asyncio.Event().wait()


async def test_the_lanes_of_a_batch_of_deliveries_share_their_transactions(db: Database) -> None:
    await consume(db, *(submitted(number) for number in range(2 * BATCH)))
    sent: list[str] = []
    lanes = 4
    dispatcher = Dispatcher(units(db), {"email": Sink(sent)}, RetryPolicy(3, 0.01), lanes=lanes)

    with counting(db) as dispatching:
        assert await dispatcher.dispatch_due() == 2 * BATCH

    print(f"\n{2 * BATCH} deliveries in {lanes} lanes: {dict(dispatching)}")
    # The claim; then per message, its attempt with the lane's previous outcome, and each lane's last
    # outcome: alone, that is a transaction each; lanes writing at once share one (the lanes' first
    # attempts at least, asked for together).
    alone = 1 + 2 * BATCH + lanes
    fewest = 1 + 2 * BATCH // lanes + 1  # a lane's own messages are written one after the other
    transactions = dispatching["transactions"]
    assert fewest <= transactions <= alone - (lanes - 2)
    assert dispatching == {"statements": 2 * transactions, "transactions": transactions}
    assert len(sent) == 2 * BATCH
    assert await statuses(db) == {"delivered": 2 * BATCH}


async def test_a_crash_repeats_at_most_the_message_in_flight_in_each_lane(db: Database) -> None:
    await consume(db, *(submitted(number) for number in range(2 * BATCH)))
    sent: list[str] = []
    lanes = 3
    dying = Sink(sent, hang_at=5)
    first = Dispatcher(units(db), {"email": dying}, RetryPolicy(3, 0.01), lanes=lanes, claim_s=0)
    batch = asyncio.create_task(first.dispatch_due())
    await dying.hanging.wait()
    batch.cancel()  # the process dies with the fifth message, and maybe others, in flight
    with pytest.raises(asyncio.CancelledError):
        await batch

    again = Dispatcher(units(db), {"email": Sink(sent)}, RetryPolicy(3, 0.01), lanes=lanes, claim_s=0)
    while await again.dispatch_due():
        pass

    repeated = [message for message, times in Counter(sent).items() if times > 1]
    assert 1 <= len(repeated) <= lanes
    assert len(set(sent)) == 2 * BATCH
    assert await statuses(db) == {"delivered": 2 * BATCH}
    async with db.transaction() as session:
        log = (
            await session.execute(
                select(notifications.c.event_id, delivery_attempts.c.outcome)
                .join(delivery_attempts, delivery_attempts.c.notification_id == notifications.c.id)
                .order_by(notifications.c.id, delivery_attempts.c.attempt)
            )
        ).all()
    outcomes: dict[str, list[str]] = {}
    for event_id, outcome in log:
        outcomes.setdefault(str(event_id), []).append(outcome)
    interrupted = {message for message, logged in outcomes.items() if logged == ["interrupted", "delivered"]}
    assert {message for message, logged in outcomes.items() if logged == ["delivered"]} | interrupted == set(
        sent
    )
    # An attempt begun in a lane when the process died is interrupted, whether its message left or not.
    assert set(repeated) <= interrupted
    assert len(interrupted) <= lanes
