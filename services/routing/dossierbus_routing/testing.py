"""For routing's tests, beside the in-memory fakes (`FakeUnitOfWork`, `MemoryStore` in unit_of_work.py): a
clock a test sets, and events applied as the consumer applies a batch, in memory or in a database alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dossierbus_routing.entrypoints.events import EventHandlers
from dossierbus_shared.envelope import Envelope


class SettableClock:
    """`Context.clock` at the time a test sets (`clock.now = ...`)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def deliver(handlers: EventHandlers, *envelopes: Envelope[Any]) -> None:
    """Apply the events as the consumer applies a batch: in one unit of work of the handlers' own (in memory
    for `MemoryStore.unit_of_work`, else in their database), the dossiers they name loaded once, each event
    handled, and all committed at the end (nothing of it when a handler raises)."""
    by_type = handlers.by_type()
    async with handlers.unit_of_work() as uow:
        await uow.load(envelopes)
        for envelope in envelopes:
            await by_type[type(envelope.data)](uow, envelope)
