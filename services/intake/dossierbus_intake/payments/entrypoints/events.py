"""What payments make of the events intake consumes: routing's payment request opens a payment; routing's
status changes may make one refundable (the refund itself is asked by `Payments.refund_due`, outside the
consumer's transaction)."""

from __future__ import annotations

import logging
from typing import Any

from dossierbus_intake.payments.domain.payment import Payment
from dossierbus_intake.unit_of_work import IntakeUnitOfWork
from dossierbus_shared.consumer import EventConsumer
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    DossierPaid,
    DossierPaymentRequested,
    DossierRefunded,
    DossierStatusChanged,
)

log = logging.getLogger(__name__)


async def on_payment_requested(uow: IntakeUnitOfWork, envelope: Envelope[DossierPaymentRequested]) -> None:
    request = envelope.data
    if uow.dossiers.get(request.dossier_id) is None:  # received by another receiving unit's intake
        return
    if uow.payments.get(request.dossier_id) is not None:
        # One payment per dossier: what was asked first is what is owed (and maybe paid already).
        log.warning("payment of %s requested again; the first request stands", request.dossier_code)
        return
    uow.payments.add(Payment.requested(request))


def follow_status(uow: IntakeUnitOfWork, changed: DossierStatusChanged) -> None:
    """The dossier's payment hears routing's latest status (from intake's own status handler)."""
    payment = uow.payments.get(changed.dossier_id)
    if payment is not None:
        payment.dossier_changed(changed)


def register(consumer: EventConsumer[Any]) -> None:
    consumer.on(DossierPaymentRequested)(on_payment_requested)
    # Intake's own, read back from dossier.payments: nothing to do, acknowledged without a transaction.
    consumer.ignore(DossierPaid)
    consumer.ignore(DossierRefunded)
