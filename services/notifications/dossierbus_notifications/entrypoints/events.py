"""What the notifications service does with the events it consumes: queue what each tells the applicant
and the agencies, in the consumer's transaction; the dispatcher (`delivery.py`) sends them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dossierbus_notifications.domain.notifying import Notifier
from dossierbus_notifications.domain.recipient import Recipient
from dossierbus_notifications.unit_of_work import NotificationsUnitOfWork
from dossierbus_shared.consumer import EventConsumer
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierSubmitted, Event


class EventHandlers:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    async def on_submitted(self, uow: NotificationsUnitOfWork, envelope: Envelope[DossierSubmitted]) -> None:
        """The applicant becomes known (and is told what waited for them), then told of the receipt."""
        correspondence = uow.correspondence.get(envelope.data.dossier_id)
        correspondence.learn(Recipient.of(envelope.data))
        correspondence.tell(self.notifier.notifications(envelope, correspondence.recipient))

    async def on_event(self, uow: NotificationsUnitOfWork, envelope: Envelope[Any]) -> None:
        correspondence = uow.correspondence.get(envelope.data.dossier_id)
        correspondence.tell(self.notifier.notifications(envelope, correspondence.recipient))


def register(consumer: EventConsumer[Any], notifier: Notifier, told: Sequence[type[Event]]) -> None:
    """Handle `told`: the event types the service tells about, the submission among them."""
    handlers = EventHandlers(notifier)
    consumer.on(DossierSubmitted)(handlers.on_submitted)
    for event_type in told:
        if event_type is not DossierSubmitted:
            consumer.on(event_type)(handlers.on_event)
