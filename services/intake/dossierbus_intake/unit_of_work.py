"""Intake's unit of work: one transaction with the dossier and payment repositories; the consumer opens one
for each run of records it applies together, HTTP use cases one per request (`Service.unit_of_work`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_intake.adapters.repository import DossierRepository, SqlDossierRepository
from dossierbus_intake.domain.dossier import Dossier
from dossierbus_intake.payments.adapters.repository import PaymentRepository, SqlPaymentRepository
from dossierbus_intake.payments.domain.payment import ENDING as payment_ending
from dossierbus_intake.payments.domain.payment import Payment
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierPaymentRequested, DossierStatusChanged
from dossierbus_shared.unit_of_work import UnitOfWork


class IntakeUnitOfWork(UnitOfWork):
    dossiers: DossierRepository
    payments: PaymentRepository

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.dossiers = SqlDossierRepository(session)
        self.payments = SqlPaymentRepository(session)

    async def load(self, envelopes: Sequence[Envelope[Any]]) -> None:
        events = [envelope.data for envelope in envelopes]
        await self.dossiers.load(
            [
                event.dossier_id
                for event in events
                if isinstance(event, DossierStatusChanged | DossierPaymentRequested)
            ]
        )
        # Payments only where one may change: most batches (status changes alone) cost no query more.
        await self.payments.load(
            [
                event.dossier_id
                for event in events
                if isinstance(event, DossierPaymentRequested)
                or (isinstance(event, DossierStatusChanged) and event.status in payment_ending)
            ]
        )

    async def flush(self) -> None:
        await self.dossiers.save()
        await self.payments.save()
        await super().flush()

    def publish(self, aggregate: Dossier | Payment) -> None:
        """Stage the events the dossier or payment recorded (call it while the span of the work is
        current)."""
        self.stage(*(Envelope(event, source=aggregate.source) for event in aggregate.events))
        aggregate.events.clear()


UnitsOfWork = Callable[[], AbstractAsyncContextManager[IntakeUnitOfWork]]
"""Opens a transaction as a unit of work: `Service.unit_of_work` (a fake in unit tests)."""
