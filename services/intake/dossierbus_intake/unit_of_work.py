"""Intake's unit of work: one transaction with the dossier repository; the consumer opens one for each run
of records it applies together, HTTP use cases one per request (`Service.unit_of_work`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_intake.adapters.repository import DossierRepository, SqlDossierRepository
from dossierbus_intake.domain.dossier import Dossier
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierStatusChanged
from dossierbus_shared.unit_of_work import UnitOfWork


class IntakeUnitOfWork(UnitOfWork):
    dossiers: DossierRepository

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.dossiers = SqlDossierRepository(session)

    async def load(self, envelopes: Sequence[Envelope[Any]]) -> None:
        await self.dossiers.load(
            [
                envelope.data.dossier_id
                for envelope in envelopes
                if isinstance(envelope.data, DossierStatusChanged)
            ]
        )

    async def flush(self) -> None:
        await self.dossiers.save()
        await super().flush()

    def publish(self, dossier: Dossier) -> None:
        """Stage the events the dossier recorded (call it while the span of the work is current)."""
        self.stage(*(Envelope(event, source=dossier.source) for event in dossier.events))
        dossier.events.clear()


UnitsOfWork = Callable[[], AbstractAsyncContextManager[IntakeUnitOfWork]]
"""Opens a transaction as a unit of work: `Service.unit_of_work` (a fake in unit tests)."""
