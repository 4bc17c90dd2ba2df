"""The periodic deadline scans: dossiers past their due date and not finished, each reported once as
`dossier.overdue` (through the outbox) and in its timeline; and dossiers whose supplement did not come
by its last day, refused (`Dossier.refuse_unsupplemented`)."""

from __future__ import annotations

import logging

from opentelemetry import trace

from dossierbus_routing.domain import Context
from dossierbus_routing.unit_of_work import UnitOfWorkFactory
from dossierbus_shared.periodic import every
from dossierbus_shared.telemetry import continued_trace, mark_dossier

log = logging.getLogger(__name__)
tracer = trace.get_tracer("dossierbus.routing.overdue")


class OverdueWatch:
    def __init__(
        self, unit_of_work: UnitOfWorkFactory, context: Context, *, interval_s: float, batch_size: int = 500
    ) -> None:
        self.unit_of_work = unit_of_work
        self.context = context
        self.interval_s = interval_s
        self.batch_size = batch_size

    async def run(self) -> None:
        """Scan every `interval_s` until cancelled; a failed scan is logged and tried again next time."""
        await every(self.interval_s, self.scan, what="looking for overdue dossiers")

    async def scan(self) -> list[str]:
        """Report every dossier overdue now (up to `batch_size`); the codes of those reported. Replicas may
        scan together: a dossier is claimed with SKIP LOCKED and marked in the same transaction as its
        event."""
        reported: list[str] = []
        today = self.context.today()
        async with self.unit_of_work() as uow:
            for dossier in await uow.dossiers.overdue_candidates(today, self.batch_size):
                with tracer.start_as_current_span("routing overdue"):
                    mark_dossier(dossier.code, str(dossier.id))
                    if dossier.check_overdue(self.context):
                        uow.collect(dossier)
                        reported.append(dossier.code)
        if reported:
            log.info("overdue: %s", ", ".join(reported))
        return reported


class SupplementDeadlineWatch:
    """Refuses, every `interval_s`, the dossiers whose citizen missed a supplement deadline."""

    def __init__(
        self, unit_of_work: UnitOfWorkFactory, context: Context, *, interval_s: float, batch_size: int = 500
    ) -> None:
        self.unit_of_work = unit_of_work
        self.context = context
        self.interval_s = interval_s
        self.batch_size = batch_size

    async def run(self) -> None:
        await every(self.interval_s, self.scan, what="looking for missed supplement deadlines")

    async def scan(self) -> list[str]:
        """Refuse every dossier whose supplement is past its last day (up to `batch_size`); their codes.
        Claimed with SKIP LOCKED like the overdue scan: replicas may scan together."""
        refused: list[str] = []
        today = self.context.today()
        async with self.unit_of_work() as uow:
            for dossier in await uow.dossiers.unsupplemented_candidates(today, self.batch_size):
                # The refusal continues the dossier's trace, as the citizen's supplement would have.
                with continued_trace("routing supplement deadline", dossier.trace_context):
                    mark_dossier(dossier.code, str(dossier.id))
                    if dossier.refuse_unsupplemented(self.context):
                        uow.collect(dossier)
                        refused.append(dossier.code)
        if refused:
            log.info("refused, supplement not received in time: %s", ", ".join(refused))
        return refused
