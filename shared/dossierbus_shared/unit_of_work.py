"""The unit of work: one transaction's business, decided in memory and written once.

A service subclasses `UnitOfWork` to add its repositories. The consumer opens one unit of work for each
run of records it applies in one transaction: `load()` fetches every aggregate those events need before any
handler runs (one query per repository, not one per event), the handlers decide in memory, and `flush()`
hands what changed to the transaction's pending writes (`dossierbus_shared.db.writes`), which send it
with the staged events' outbox rows in one statement at the commit. HTTP use cases open one with
`Database.unit_of_work`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_shared.db import after_commit
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.outbox import stage_now


class UnitOfWork:
    """The session, the events staged for the outbox, and hooks to run once the transaction commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def stage(self, *envelopes: Envelope[Any]) -> None:
        """Publish these events if, and only if, this unit of work commits (one outbox INSERT for all).
        Call it while the span of the work that causes them is current: each keeps that trace."""
        stage_now(self.session, *envelopes)

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once committed (e.g. a metric), never when rolled back."""
        after_commit(self.session, hook)

    async def load(self, envelopes: Sequence[Envelope[Any]]) -> None:
        """Fetch what the handlers of these events will need, at once. Nothing to load by default."""

    async def flush(self) -> None:
        """Write what changed, just before the commit. Nothing to write by default."""
