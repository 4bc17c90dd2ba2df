"""Routing's unit of work: the dossiers and the Decision 766 records of one transaction, loaded at once for
a batch of events, and what their changes cause (events, timeline entries and, when the national portal
is synchronised, the status changes for it) written once at the end.

`FakeUnitOfWork` is the same with in-memory repositories, for unit tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from uuid import UUID

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_routing.adapters.indicators import (
    IndicatorRepository,
    InMemoryIndicatorRepository,
    PostgresIndicatorRepository,
)
from dossierbus_routing.adapters.repository import (
    DossierRepository,
    InMemoryDossierRepository,
    PostgresDossierRepository,
)
from dossierbus_routing.domain import Dossier, TimelineEntry
from dossierbus_routing.domain.indicator_record import IndicatorRecord
from dossierbus_routing.portal_sync.changes import portal_changes
from dossierbus_routing.portal_sync.store import InMemoryStaging, SyncStaging
from dossierbus_shared.calendar import PROVISIONAL_DEADLINES
from dossierbus_shared.contract.kit import answers_the_kit
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    DossierAssigned,
    DossierExtensionRequested,
    DossierPaid,
    DossierPaymentRequested,
    DossierRated,
    DossierRefunded,
    DossierStatusChanged,
    DossierStatusReported,
    DossierVerified,
)
from dossierbus_shared.unit_of_work import UnitOfWork


class RoutingUnitOfWork(UnitOfWork):
    """The repositories and the timeline entries of one transaction."""

    dossiers: DossierRepository
    indicators: IndicatorRepository

    def __init__(
        self,
        session: AsyncSession,
        portal_sync: Callable[[AsyncSession], SyncStaging | None] | None = None,
    ) -> None:
        """`portal_sync`: where status changes for the national portal are staged (PortalSync.staging);
        none: they are not."""
        super().__init__(session)
        self.dossiers = PostgresDossierRepository(session)
        self.indicators = PostgresIndicatorRepository(session)
        self.timeline: list[tuple[UUID, TimelineEntry]] = []
        self.portal_sync = portal_sync(session) if portal_sync else None

    async def load(self, envelopes: Sequence[Envelope[Any]]) -> None:
        """The dossiers the workflow events name, and the 766 records the projection's events name."""
        await self.dossiers.load(
            envelope.data.dossier_id
            for envelope in envelopes
            if isinstance(
                envelope.data, DossierVerified | DossierExtensionRequested | DossierPaid | DossierRefunded
            )
            or (isinstance(envelope.data, DossierStatusReported) and not answers_the_kit(envelope.data))
        )
        await self.indicators.load(
            envelope.data.dossier_id
            for envelope in envelopes
            if isinstance(
                envelope.data, DossierVerified | DossierStatusChanged | DossierPaymentRequested | DossierPaid
            )
        )

    def collect(self, dossier: Dossier) -> None:
        """Take what a change of the dossier caused: its events are staged, its timeline entries kept.
        Called at the end of each change, while its span is current: both carry its trace."""
        trace_id = current_trace_id()
        events, entries = dossier.drain()
        self.stage(*events)
        self.timeline += [(dossier.id, dataclasses.replace(entry, trace_id=trace_id)) for entry in entries]
        if self.portal_sync is not None:
            self.portal_sync.add(portal_changes(dossier, events))
        for envelope in events:
            if isinstance(envelope.data, DossierAssigned) and envelope.data.deadline_provisional:
                self.after_commit(PROVISIONAL_DEADLINES.labels("assigned").inc)

    async def flush(self) -> None:
        for dossier in self.dossiers.seen.values():  # nothing is lost if a change was not collected
            self.collect(dossier)
        await self.dossiers.save(self.timeline)
        self.timeline = []
        if self.portal_sync is not None:
            await self.portal_sync.save()
        await self.indicators.save()
        await super().flush()


class FakeUnitOfWork(RoutingUnitOfWork):
    """In memory, for unit tests: what units of work commit is kept in the dicts and lists given, so a
    test can run several, one after the other, as the consumer and the HTTP requests would."""

    def __init__(self, store: MemoryStore) -> None:  # no session: nothing here touches a database
        self.dossiers = InMemoryDossierRepository(store.dossiers, store.timeline)
        self.indicators = InMemoryIndicatorRepository(store.indicators, store.ratings)
        self.timeline = []
        self.portal_sync = InMemoryStaging(store.portal_sync)
        self.store = store
        self._staged: list[Envelope[Any]] = []
        self._hooks: list[Callable[[], None]] = []

    def stage(self, *envelopes: Envelope[Any]) -> None:
        self._staged += envelopes

    def after_commit(self, hook: Callable[[], None]) -> None:
        self._hooks.append(hook)

    async def commit(self) -> None:
        await self.flush()
        self.store.outbox += self._staged
        for hook in self._hooks:
            hook()


class MemoryStore:
    """What the fake units of work have committed."""

    def __init__(self) -> None:
        self.dossiers: dict[UUID, Dossier] = {}
        self.timeline: list[tuple[UUID, TimelineEntry]] = []
        self.indicators: dict[UUID, IndicatorRecord] = {}
        self.ratings: dict[UUID, DossierRated] = {}
        self.outbox: list[Envelope[Any]] = []
        self.portal_sync: list[dict[str, Any]] = []
        """The rows of the changes staged for the national portal."""

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[FakeUnitOfWork]:
        """As `Database.unit_of_work`: committed when the block ends, dropped when it raises."""
        uow = FakeUnitOfWork(self)
        yield uow
        await uow.commit()


UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[RoutingUnitOfWork]]
"""Opens a unit of work for use cases outside the consumer (HTTP requests, periodic scans)."""


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
