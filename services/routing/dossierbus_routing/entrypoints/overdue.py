"""The periodic deadline scans: dossiers past their due date and not finished, each reported once as
`dossier.overdue` (through the outbox) and in its timeline; and dossiers whose supplement did not come
by its last day, refused (`Dossier.refuse_unsupplemented`)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from datetime import date

from opentelemetry import trace

from dossierbus_routing.adapters.repository import DossierRepository
from dossierbus_routing.domain import Context, Dossier
from dossierbus_routing.unit_of_work import UnitOfWorkFactory
from dossierbus_shared.periodic import every
from dossierbus_shared.telemetry import continued_trace, mark_dossier

log = logging.getLogger(__name__)
tracer = trace.get_tracer("dossierbus.routing.overdue")


class DeadlineWatch(ABC):
    """Every `interval_s`, a scan for the dossiers a deadline has passed: up to `batch_size` candidates,
    claimed with SKIP LOCKED (replicas may scan together), each changed in a span of its own and in the
    same transaction as what the change causes."""

    looking_for: str
    """What a scan looks for, as its failures are logged."""
    log_as: str
    """What the log line of a scan's changes says they are."""

    def __init__(
        self, unit_of_work: UnitOfWorkFactory, context: Context, *, interval_s: float, batch_size: int = 500
    ) -> None:
        self.unit_of_work = unit_of_work
        self.context = context
        self.interval_s = interval_s
        self.batch_size = batch_size

    async def run(self) -> None:
        """Scan every `interval_s` until cancelled; a failed scan is logged and tried again next time."""
        await every(self.interval_s, self.scan, what=f"looking for {self.looking_for}")

    async def scan(self) -> list[str]:
        """Change every candidate the deadline has passed (up to `batch_size`); the codes of those changed."""
        changed: list[str] = []
        today = self.context.today()
        async with self.unit_of_work() as uow:
            for dossier in await self.candidates(uow.dossiers, today):
                with self.span(dossier):
                    mark_dossier(dossier.code, str(dossier.id))
                    if self.change(dossier):
                        uow.collect(dossier)
                        changed.append(dossier.code)
        if changed:
            log.info("%s: %s", self.log_as, ", ".join(changed))
        return changed

    @abstractmethod
    async def candidates(self, dossiers: DossierRepository, today: date) -> list[Dossier]:
        """The dossiers this deadline may have passed on `today`, up to `batch_size`, each locked."""

    @abstractmethod
    def span(self, dossier: Dossier) -> AbstractContextManager[object]:
        """The span the dossier is changed in."""

    @abstractmethod
    def change(self, dossier: Dossier) -> bool:
        """The dossier's command for the passed deadline; whether it changed the dossier."""


class OverdueWatch(DeadlineWatch):
    """Reports, every `interval_s`, each dossier overdue now, once."""

    looking_for = "overdue dossiers"
    log_as = "overdue"

    async def candidates(self, dossiers: DossierRepository, today: date) -> list[Dossier]:
        return await dossiers.overdue_candidates(today, self.batch_size)

    def span(self, dossier: Dossier) -> AbstractContextManager[object]:
        return tracer.start_as_current_span("routing overdue")

    def change(self, dossier: Dossier) -> bool:
        return dossier.check_overdue(self.context)


class SupplementDeadlineWatch(DeadlineWatch):
    """Refuses, every `interval_s`, the dossiers whose citizen missed a supplement deadline."""

    looking_for = "missed supplement deadlines"
    log_as = "refused, supplement not received in time"

    async def candidates(self, dossiers: DossierRepository, today: date) -> list[Dossier]:
        return await dossiers.unsupplemented_candidates(today, self.batch_size)

    def span(self, dossier: Dossier) -> AbstractContextManager[object]:
        # The refusal continues the dossier's trace, as the citizen's supplement would have.
        return continued_trace("routing supplement deadline", dossier.trace_context)

    def change(self, dossier: Dossier) -> bool:
        return dossier.refuse_unsupplemented(self.context)
