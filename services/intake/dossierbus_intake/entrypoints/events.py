"""What intake does with the events it consumes: routing's status changes tell it a dossier's latest
status and when it ended (from then on it may be rated), and may make its payment refundable; routing's
payment requests open payments (payments/entrypoints/events.py)."""

from __future__ import annotations

from typing import Any

from dossierbus_intake.payments.entrypoints import events as payments
from dossierbus_intake.unit_of_work import IntakeUnitOfWork
from dossierbus_shared.consumer import EventConsumer
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierStatusChanged


async def on_status_changed(uow: IntakeUnitOfWork, envelope: Envelope[DossierStatusChanged]) -> None:
    dossier = uow.dossiers.get(envelope.data.dossier_id)
    if dossier is not None:  # a dossier another receiving unit's intake received is not here
        dossier.status_changed(envelope.data)
        payments.follow_status(uow, envelope.data)


def register(consumer: EventConsumer[Any]) -> None:
    consumer.on(DossierStatusChanged)(on_status_changed)
    payments.register(consumer)
