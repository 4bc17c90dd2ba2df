"""The event handlers and the dispatcher on in-memory repositories: what a batch of events queues, and in
what order a dispatcher writes attempts and sends messages."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest

from dossierbus_devstack.eventually import eventually
from dossierbus_notifications.channels import Outgoing
from dossierbus_notifications.delivery import Dispatcher, GroupCommit
from dossierbus_notifications.domain.correspondence import Correspondence
from dossierbus_notifications.domain.notification import (
    AWAITING_RECIPIENT,
    DEAD,
    DELIVERED,
    PENDING,
    Notification,
    RetryPolicy,
    addressed,
)
from dossierbus_notifications.domain.notifying import Notifier
from dossierbus_notifications.domain.recipient import Recipient
from dossierbus_notifications.entrypoints.events import EventHandlers
from dossierbus_notifications.messages import Templates
from dossierbus_notifications.unit_of_work import NotificationsUnitOfWork
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import Applicant, Channel, DossierStatus, DossierStatusChanged, DossierSubmitted

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


@dataclass
class Store:
    """What committed transactions leave behind, and the order things happened in."""

    recipients: dict[uuid.UUID, Recipient] = field(default_factory=dict)
    notifications: dict[int, Notification] = field(default_factory=dict)
    journal: list[tuple[str, Any]] = field(default_factory=list)


class FakeCorrespondenceRepository:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.loaded: dict[uuid.UUID, Correspondence] = {}

    async def load(self, dossier_ids: Collection[uuid.UUID]) -> None:
        for dossier_id in dossier_ids:
            awaiting = any(
                n.dossier_id == dossier_id and n.status == AWAITING_RECIPIENT
                for n in self.store.notifications.values()
            )
            recipient = self.store.recipients.get(dossier_id)
            self.loaded.setdefault(dossier_id, Correspondence(dossier_id, recipient, awaiting=awaiting))

    def get(self, dossier_id: uuid.UUID) -> Correspondence:
        return self.loaded[dossier_id]

    async def save(self) -> None:
        for correspondence in self.loaded.values():
            if (learned := correspondence.learned) is not None:
                self.store.recipients.setdefault(learned.dossier_id, learned)
            if correspondence.releases_awaiting and correspondence.recipient is not None:
                for stored in self.store.notifications.values():
                    if stored.dossier_id == correspondence.dossier_id:
                        stored.address(correspondence.recipient.email)
            kept = {(n.event_id, n.channel, n.recipient) for n in self.store.notifications.values()}
            for notification in correspondence.queued:
                if (notification.event_id, notification.channel, notification.recipient) not in kept:
                    notification_id = len(self.store.notifications) + 1
                    self.store.notifications[notification_id] = dataclasses.replace(
                        notification, id=notification_id
                    )


class FakeNotificationRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def claim_due(self, now: datetime, limit: int, claimed_until: datetime) -> list[Notification]:
        due = [
            n
            for n in self.store.notifications.values()
            if n.status == PENDING and (n.next_attempt_at or now) <= now
        ][:limit]
        for notification in due:
            notification.next_attempt_at = claimed_until
        return [dataclasses.replace(n) for n in due]

    async def get(self, notification_id: int) -> Notification | None:
        found = self.store.notifications.get(notification_id)
        return None if found is None else dataclasses.replace(found)

    async def save(self, changed: Sequence[Notification]) -> set[int]:
        saved = {
            n.id for n in changed if n.id is not None and self.store.notifications[n.id].attempts == n.version
        }
        self.store.journal.append(
            ("write", {n.id: n.attempt.outcome for n in changed if n.id in saved and n.attempt})
        )
        for notification in changed:
            if notification.id in saved:
                notification.version = notification.attempts
                self.store.notifications[notification.id] = dataclasses.replace(notification)
        return saved


class FakeUnitOfWork(NotificationsUnitOfWork):
    def __init__(self, store: Store) -> None:  # no session: nothing here reaches a database
        self.correspondence = FakeCorrespondenceRepository(store)
        self.notifications = FakeNotificationRepository(store)


def units_of(store: Store) -> Callable[[], AbstractAsyncContextManager[NotificationsUnitOfWork]]:
    @asynccontextmanager
    async def unit() -> AsyncIterator[NotificationsUnitOfWork]:
        work = FakeUnitOfWork(store)
        yield work
        await work.flush()

    return unit


def submitted(dossier_id: uuid.UUID, email: str | None = "an@example.vn") -> Envelope[DossierSubmitted]:
    return Envelope(
        DossierSubmitted(
            dossier_id=dossier_id,
            dossier_code="000.00.01.H26-261126-0001",
            procedure_code="1.001193",
            receiving_unit="000.00.01.H26",
            channel=Channel.ONLINE,
            applicant=Applicant(
                personal_id="001085123456",
                full_name="Nguyễn Văn An",
                date_of_birth=date(1985, 4, 12),
                email=email,
            ),
            form={},
            submitted_at=NOW,
            due_date=date(2026, 11, 26),
        ),
        source="urn:dossierbus:intake:000.00.01.H26",
    )


def accepted(dossier_id: uuid.UUID) -> Envelope[DossierStatusChanged]:
    return Envelope(
        DossierStatusChanged(
            dossier_id=dossier_id,
            dossier_code="000.00.01.H26-261126-0001",
            procedure_code="1.001193",
            previous_status=DossierStatus.RECEIVED,
            status=DossierStatus.ACCEPTED,
            due_date=date(2026, 11, 26),
            changed_at=NOW,
        ),
        source="urn:dossierbus:routing",
    )


async def consume(store: Store, *envelopes: Envelope[Any]) -> None:
    """As the consumer does with a batch: load for all, handle each, flush once."""
    handlers = EventHandlers(Notifier(Templates()))
    async with units_of(store)() as uow:
        await uow.load(envelopes)
        for envelope in envelopes:
            handle = (
                handlers.on_submitted if isinstance(envelope.data, DossierSubmitted) else handlers.on_event
            )
            await handle(uow, envelope)


def kept(store: Store) -> list[tuple[str, str, str]]:
    return [(n.event_type.split(".")[-2], n.recipient, n.status) for n in store.notifications.values()]


# --- handlers ------------------------------------------------------------------------------------------


async def test_a_submission_makes_the_applicant_known_and_tells_them_of_the_receipt() -> None:
    store, dossier = Store(), uuid.uuid4()
    await consume(store, submitted(dossier), accepted(dossier))

    assert store.recipients[dossier].email == "an@example.vn"
    assert kept(store) == [
        ("submitted", "an@example.vn", PENDING),
        ("status-changed", "an@example.vn", PENDING),
    ]


async def test_a_status_change_before_the_submission_waits_for_the_recipient() -> None:
    store, dossier = Store(), uuid.uuid4()
    await consume(store, accepted(dossier))
    assert kept(store) == [("status-changed", "", AWAITING_RECIPIENT)]

    await consume(store, submitted(dossier))

    assert kept(store) == [
        ("status-changed", "an@example.vn", PENDING),
        ("submitted", "an@example.vn", PENDING),
    ]


async def test_an_applicant_without_an_address_is_told_nothing_and_the_log_says_why() -> None:
    store, dossier = Store(), uuid.uuid4()
    await consume(store, accepted(dossier))
    await consume(store, submitted(dossier, email=None))

    assert {n.status for n in store.notifications.values()} == {"undeliverable"}
    assert {n.last_error for n in store.notifications.values()} == {addressed(None, "email")[1]}


async def test_a_submission_redelivered_past_the_inbox_queues_nothing_new() -> None:
    store, event = Store(), submitted(uuid.uuid4())
    await consume(store, event)
    await consume(store, event)

    assert len(store.notifications) == 1
    assert len(store.recipients) == 1


# --- the dispatcher ------------------------------------------------------------------------------------


class RecordingChannel:
    name = "email"

    def __init__(self, store: Store, failing: Collection[str] = ()) -> None:
        self.store = store
        self.failing = failing

    async def send(self, outgoing: Outgoing) -> None:
        self.store.journal.append(("send", outgoing.recipient))
        await asyncio.sleep(0)  # let the other lanes run
        if outgoing.recipient in self.failing:
            raise ConnectionRefusedError("refused")


def queue(store: Store, *recipients: str, dossier: uuid.UUID | None = None) -> list[int]:
    for recipient in recipients:
        notification = Notification.queued(accepted(dossier or uuid.uuid4()), "email", recipient, "S", "B")
        notification.id = len(store.notifications) + 1
        store.notifications[notification.id] = notification
    return list(store.notifications)


async def test_each_attempt_is_written_before_its_message_and_with_the_previous_outcome() -> None:
    store = Store()
    first, second, third = queue(store, "a@x.vn", "b@x.vn", "c@x.vn")
    dispatcher = Dispatcher(units_of(store), {"email": RecordingChannel(store)}, RetryPolicy(3, 1.0))

    assert await dispatcher.dispatch_due() == 3

    assert store.journal == [
        ("write", {first: "sending"}),
        ("send", "a@x.vn"),
        ("write", {first: "delivered", second: "sending"}),
        ("send", "b@x.vn"),
        ("write", {second: "delivered", third: "sending"}),
        ("send", "c@x.vn"),
        ("write", {third: "delivered"}),
    ]
    assert {n.status for n in store.notifications.values()} == {DELIVERED}


async def test_lanes_send_at_once_and_keep_each_dossiers_messages_in_order() -> None:
    store, dossier = Store(), uuid.uuid4()
    queue(store, *(f"other{n}@x.vn" for n in range(8)))
    queue(store, "first@x.vn", "second@x.vn", "third@x.vn", dossier=dossier)
    dispatcher = Dispatcher(units_of(store), {"email": RecordingChannel(store)}, RetryPolicy(3, 1.0), lanes=4)

    await dispatcher.dispatch_due()

    sent = [recipient for what, recipient in store.journal if what == "send"]
    assert sorted(sent) == sorted(n.recipient for n in store.notifications.values())
    assert [r for r in sent if r in ("first@x.vn", "second@x.vn", "third@x.vn")] == [
        "first@x.vn",
        "second@x.vn",
        "third@x.vn",
    ]
    first_outcome = next(
        i
        for i, (what, written) in enumerate(store.journal)
        if what == "write" and "delivered" in written.values()
    )
    assert [what for what, _ in store.journal[:first_outcome]].count("send") > 1  # lanes overlap


class QueueingChannel(RecordingChannel):
    """Queues a message while sending the first one, and another 50 ms later."""

    async def send(self, outgoing: Outgoing) -> None:
        if outgoing.recipient == "a@x.vn":
            queue(self.store, "b@x.vn")
            asyncio.get_running_loop().call_later(0.05, queue, self.store, "c@x.vn")
        await super().send(outgoing)


async def test_a_round_smaller_than_a_batch_is_followed_by_a_wait_that_gathers_the_next() -> None:
    store = Store()
    queue(store, "a@x.vn")
    dispatcher = Dispatcher(units_of(store), {"email": QueueingChannel(store)}, RetryPolicy(3, 1.0))
    running = asyncio.create_task(dispatcher.dispatch_forever(poll_interval_s=0.3))
    try:
        await eventually(lambda: all(n.status == "delivered" for n in store.notifications.values()))
        assert len(store.notifications) == 3
    finally:
        running.cancel()
    b, c = 2, 3
    assert ("write", {b: "delivered", c: "sending"}) in store.journal, "b and c went in one round"


async def test_a_message_another_dispatcher_began_meanwhile_is_not_sent() -> None:
    store = Store()
    [taken] = queue(store, "a@x.vn")
    dispatcher = Dispatcher(units_of(store), {"email": RecordingChannel(store)}, RetryPolicy(3, 1.0))
    claimed = await dispatcher._claim(10)
    store.notifications[taken].attempts = 1  # the other dispatcher's attempt

    await dispatcher._send_in_turn(claimed, GroupCommit(dispatcher._write))

    assert store.journal == [("write", {})]


async def test_a_failed_message_is_retried_later_then_dead() -> None:
    store = Store()
    [notification_id] = queue(store, "full@x.vn")
    channel = RecordingChannel(store, failing={"full@x.vn"})
    dispatcher = Dispatcher(units_of(store), {"email": channel}, RetryPolicy(2, 0.001))

    await dispatcher.dispatch_due()
    retried = store.notifications[notification_id]
    assert (retried.status, retried.attempts, retried.last_error) == (PENDING, 1, "refused")
    await asyncio.sleep(0.01)
    await dispatcher.dispatch_due()

    assert store.notifications[notification_id].status == DEAD


@pytest.mark.parametrize("channel_name", ["sms", "webhook"])
async def test_a_channel_that_is_not_configured_fails_the_attempt(channel_name: str) -> None:
    store = Store()
    notification = Notification.queued(accepted(uuid.uuid4()), channel_name, "AGENCY", "S", "B")
    notification.id = 1
    store.notifications[1] = notification

    await Dispatcher(units_of(store), {}, RetryPolicy(1, 1.0)).dispatch_due()

    assert store.notifications[1].status == DEAD
    assert store.notifications[1].last_error == f"the {channel_name} channel is not configured"
