"""The notifications service's unit of work: one transaction with its repositories. The consumer opens
one for each run of records it applies together; the dispatcher one per claim and per attempt; HTTP
use cases one per request (`Service.unit_of_work`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_notifications.adapters.repository import (
    CorrespondenceRepository,
    NotificationRepository,
    SqlCorrespondenceRepository,
    SqlNotificationRepository,
)
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.unit_of_work import UnitOfWork


class NotificationsUnitOfWork(UnitOfWork):
    correspondence: CorrespondenceRepository
    notifications: NotificationRepository

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.correspondence = SqlCorrespondenceRepository(session)
        self.notifications = SqlNotificationRepository(session)

    async def load(self, envelopes: Sequence[Envelope[Any]]) -> None:
        await self.correspondence.load([envelope.data.dossier_id for envelope in envelopes])

    async def flush(self) -> None:
        await self.correspondence.save()
        await super().flush()


UnitsOfWork = Callable[[], AbstractAsyncContextManager[NotificationsUnitOfWork]]
"""Opens a transaction as a unit of work: `Service.unit_of_work` (a fake in unit tests)."""
