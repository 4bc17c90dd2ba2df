"""Routing's unit of work: the dossiers and the Decision 766 records of one transaction, loaded at once for
a batch of events, and what their changes cause (events, timeline entries and, when the national portal
is synchronised, the status changes for it) written once at the end.

The 766 records follow the status changes and payment requests routing publishes: each staged one is
applied to its dossier's record in the same transaction, from the very event that goes to the outbox.

`FakeUnitOfWork` is the same with in-memory repositories, for unit tests.
"""

from __future__ import annotations

import dataclasses
import logging
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
from dossierbus_shared.calendar import PROVISIONAL_DEADLINES, WorkingCalendar, vietnam_calendar
from dossierbus_shared.catalogue import Catalogue, default_catalogue
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

log = logging.getLogger(__name__)

Published766 = DossierStatusChanged | DossierPaymentRequested
"""What routing publishes that its 766 records follow."""


class RoutingUnitOfWork(UnitOfWork):
    """The repositories and the timeline entries of one transaction."""

    dossiers: DossierRepository
    indicators: IndicatorRepository

    def __init__(
        self,
        session: AsyncSession,
        portal_sync: Callable[[AsyncSession], SyncStaging | None] | None = None,
        *,
        catalogue: Catalogue | None = None,
        calendar: WorkingCalendar | None = None,
    ) -> None:
        """`portal_sync`: where status changes for the national portal are staged (PortalSync.staging);
        none: they are not. `catalogue` and `calendar` judge the 766 records (the defaults otherwise)."""
        super().__init__(session)
        self.dossiers = PostgresDossierRepository(session)
        self.indicators = PostgresIndicatorRepository(session)
        self.timeline: list[tuple[UUID, TimelineEntry]] = []
        self.portal_sync = portal_sync(session) if portal_sync else None
        self.catalogue = catalogue or default_catalogue()
        self.calendar = calendar or vietnam_calendar()
        self.published_766: list[Published766] = []

    def stage(self, *envelopes: Envelope[Any]) -> None:
        super().stage(*envelopes)
        self.follow(envelopes)

    def follow(self, envelopes: Sequence[Envelope[Any]]) -> None:
        """Keep what the 766 records follow among events being published, to apply at the flush."""
        self.published_766 += [e.data for e in envelopes if isinstance(e.data, Published766)]

    async def load(self, envelopes: Sequence[Envelope[Any]]) -> None:
        """The dossiers the workflow events name, and the 766 records the projection's events name."""
        changing = [
            envelope.data.dossier_id
            for envelope in envelopes
            if isinstance(
                envelope.data, DossierVerified | DossierExtensionRequested | DossierPaid | DossierRefunded
            )
            or (isinstance(envelope.data, DossierStatusReported) and not answers_the_kit(envelope.data))
        ]
        await self.dossiers.load(changing)
        # A change of a dossier publishes status changes, which its 766 record follows.
        await self.indicators.load(changing)

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
        await self.apply_766()
        await self.indicators.save()
        await super().flush()

    async def apply_766(self) -> None:
        """Apply what was published to the dossiers' 766 records, in the order it was staged."""
        published, self.published_766 = self.published_766, []
        await self.indicators.load(event.dossier_id for event in published)
        for event in published:
            record = await self.indicators.get(event.dossier_id)
            if record is None:  # opened at verification, with the dossier: a record lost since
                log.error("dossier %s has no 766 record; %s not counted", event.dossier_code, event.type)
            elif isinstance(event, DossierStatusChanged):
                record.apply(event, self.catalogue, self.calendar)
            else:
                record.fees_requested()


class FakeUnitOfWork(RoutingUnitOfWork):
    """In memory, for unit tests: what units of work commit is kept in the dicts and lists given, so a
    test can run several, one after the other, as the consumer and the HTTP requests would."""

    def __init__(self, store: MemoryStore) -> None:  # no session: nothing here touches a database
        self.dossiers = InMemoryDossierRepository(store.dossiers, store.timeline)
        self.indicators = InMemoryIndicatorRepository(store.indicators, store.ratings)
        self.timeline = []
        self.portal_sync = InMemoryStaging(store.portal_sync)
        self.catalogue, self.calendar = default_catalogue(), vietnam_calendar()
        self.published_766 = []
        self.store = store
        self._staged: list[Envelope[Any]] = []
        self._hooks: list[Callable[[], None]] = []

    def stage(self, *envelopes: Envelope[Any]) -> None:
        self._staged += envelopes
        self.follow(envelopes)

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
