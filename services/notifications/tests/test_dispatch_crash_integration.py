"""A dispatcher that dies in the middle of a batch, on a real PostgreSQL: the messages it had sent are not
sent again, only the one in flight is (with the same Message-ID), and the delivery log shows each attempt."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

import dossierbus_notifications
from dossierbus_notifications.adapters.tables import delivery_attempts, notifications
from dossierbus_notifications.channels import Outgoing
from dossierbus_notifications.delivery import Dispatcher
from dossierbus_notifications.domain.notification import RetryPolicy
from dossierbus_notifications.unit_of_work import NotificationsUnitOfWork, UnitsOfWork
from dossierbus_shared.db import Database
from dossierbus_shared.db.migrate import upgrade_async

MIGRATIONS = Path(dossierbus_notifications.__file__).parent / "migrations"


class RecordingChannel:
    """An e-mail channel that records every message it is asked to send; `hang_at`: the number of the
    message (counting from 1) that never completes, as when the process dies while sending it."""

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


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    schema = f"n{uuid.uuid4().hex[:10]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    database = Database(database_url, schema, pool_size=2)
    yield database
    await database.dispose()


def units(db: Database) -> UnitsOfWork:
    return lambda: db.unit_of_work(NotificationsUnitOfWork)


async def queue(db: Database, count: int) -> list[uuid.UUID]:
    event_ids = [uuid.uuid4() for _ in range(count)]
    async with db.transaction() as session:
        await session.execute(
            insert(notifications),
            [
                {
                    "event_id": event_id,
                    "event_type": "vn.gov.dossierbus.dossier.status-changed.v1",
                    "dossier_id": uuid.uuid4(),
                    "dossier_code": f"D-{number}",
                    "channel": "email",
                    "recipient": f"applicant{number}@example.vn",
                    "subject": "Your dossier",
                    "body": "Its status changed.",
                }
                for number, event_id in enumerate(event_ids)
            ],
        )
    return event_ids


async def test_a_crash_in_the_middle_of_a_batch_resends_only_the_message_in_flight(db: Database) -> None:
    event_ids = await queue(db, 10)
    sent: list[str] = []
    dying = RecordingChannel(sent, hang_at=4)
    # Claims expire at once: the next dispatcher stands for this one restarted after the crash.
    first = Dispatcher(units(db), {"email": dying}, RetryPolicy(3, 0.01), claim_s=0)
    batch = asyncio.create_task(first.dispatch_due())
    await dying.hanging.wait()
    batch.cancel()  # the process dies with the fourth message in flight
    with pytest.raises(asyncio.CancelledError):
        await batch
    in_flight = sent[-1]

    again = Dispatcher(units(db), {"email": RecordingChannel(sent)}, RetryPolicy(3, 0.01), claim_s=0)
    while await again.dispatch_due():
        pass

    assert sorted(sent) == sorted([str(event_id) for event_id in event_ids] + [in_flight])
    async with db.transaction() as session:
        statuses = (await session.execute(select(notifications.c.event_id, notifications.c.status))).all()
        log = (
            await session.execute(
                select(notifications.c.event_id, delivery_attempts.c.attempt, delivery_attempts.c.outcome)
                .join(delivery_attempts, delivery_attempts.c.notification_id == notifications.c.id)
                .order_by(notifications.c.id, delivery_attempts.c.attempt)
            )
        ).all()
    assert {status for _, status in statuses} == {"delivered"}
    attempts: dict[str, list[tuple[int, str]]] = {}
    for event_id, attempt, outcome in log:
        attempts.setdefault(str(event_id), []).append((attempt, outcome))
    assert attempts.pop(in_flight) == [(1, "interrupted"), (2, "delivered")]
    assert set(map(tuple, attempts.values())) == {((1, "delivered"),)}
    assert len(attempts) == 9
