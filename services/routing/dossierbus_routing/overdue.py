"""Overdue detection: a periodic scan for dossiers past their due date and not finished, each reported
once as `dossier.overdue` (through the outbox) and in its timeline."""

from __future__ import annotations

import logging

from opentelemetry import trace
from sqlalchemy import select, update

from dossierbus_routing.adapters.tables import dossiers, steps
from dossierbus_routing.deadlines import is_overdue
from dossierbus_routing.domain import OPEN, TRANSITIONS, StepStatus
from dossierbus_routing.workflow import SOURCE, Cause, Clock, Workflow, utc_now
from dossierbus_shared.calendar import WorkingCalendar
from dossierbus_shared.db import Database
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierOverdue, DossierStatus
from dossierbus_shared.outbox import stage
from dossierbus_shared.periodic import every
from dossierbus_shared.telemetry import mark_dossier

log = logging.getLogger(__name__)
tracer = trace.get_tracer("dossierbus.routing.overdue")

# Paused dossiers are left out: their due date moves when the citizen's supplement arrives.
WATCHED = sorted(
    status.value
    for status, following in TRANSITIONS.items()
    if following and status is not DossierStatus.SUPPLEMENT_REQUESTED
)


class OverdueWatch:
    def __init__(
        self,
        db: Database,
        workflow: Workflow,
        calendar: WorkingCalendar,
        *,
        interval_s: float,
        batch_size: int = 500,
        clock: Clock = utc_now,
    ) -> None:
        self.db = db
        self.workflow = workflow
        self.calendar = calendar
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.clock = clock

    async def run(self) -> None:
        """Scan every `interval_s` until cancelled; a failed scan is logged and tried again next time."""
        await every(self.interval_s, self.scan, what="looking for overdue dossiers")

    async def scan(self) -> list[str]:
        """Report every dossier overdue now; the codes of those reported. Replicas may scan together: a
        dossier row is claimed with SKIP LOCKED and marked in the same transaction as its event."""
        reported: list[str] = []
        now = self.clock()
        today = self.calendar.local_date(now)
        async with self.db.transaction() as session:
            candidates = (
                await session.execute(
                    select(dossiers)
                    .where(
                        dossiers.c.overdue_at.is_(None),
                        dossiers.c.due_date < today,
                        dossiers.c.status.in_(WATCHED),
                    )
                    .order_by(dossiers.c.due_date)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for dossier in candidates:
                if not is_overdue(DossierStatus(dossier.status), dossier.due_date, today):
                    continue
                with tracer.start_as_current_span("routing overdue"):
                    mark_dossier(dossier.code, str(dossier.id))
                    open_steps = (
                        await session.execute(
                            select(steps.c.step, steps.c.agency_code)
                            .where(
                                steps.c.dossier_id == dossier.id,
                                steps.c.status.in_([status.value for status in OPEN]),
                                steps.c.status != StepStatus.WAITING.value,
                            )
                            .order_by(steps.c.step)
                        )
                    ).all()
                    overdue = DossierOverdue(
                        dossier_id=dossier.id,
                        dossier_code=dossier.code,
                        procedure_code=dossier.procedure_code,
                        status=DossierStatus(dossier.status),
                        due_date=dossier.due_date,
                        open_steps=[f"{row.step}@{row.agency_code}" for row in open_steps],
                        detected_at=now,
                    )
                    envelope = Envelope(overdue, source=SOURCE)
                    await stage(session, envelope)
                    await session.execute(
                        update(dossiers).where(dossiers.c.id == dossier.id).values(overdue_at=now)
                    )
                    note = (
                        f"due {dossier.due_date.isoformat()}, not finished on {today.isoformat()}; "
                        f"open: {', '.join(overdue.open_steps) or 'none'}"
                    )
                    await self.workflow.record(
                        session, dossier.id, Cause(envelope.id, note=note), "overdue", overdue.status
                    )
                reported.append(dossier.code)
        if reported:
            log.info("overdue: %s", ", ".join(reported))
        return reported
