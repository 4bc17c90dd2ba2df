"""Which agency holds which step of which dossier: learnt from the agencies' inbox topics, where routing
publishes every assignment and cancellation, and forgotten when the step is cancelled or the dossier
reaches a final status. A lookup is allowed only to an agency holding a step of the dossier it names.
"""

from __future__ import annotations

from sqlalchemy import delete, exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.tables import assignments
from dossierbus_shared.consumer import Unauthenticated
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierAssigned, DossierStepCancelled, DossierSupplemented
from dossierbus_shared.unit_of_work import UnitOfWork

ROUTING_SOURCE = "urn:dossierbus:routing"
INBOX_TOPICS = r"agency\.[a-z0-9-]+\.inbox"
"""Every agency's inbox, those onboarded while the registry runs included."""


async def from_routing(envelope: Envelope[DossierAssigned] | Envelope[DossierStepCancelled]) -> None:
    """Only routing assigns steps; on the broker only routing may write to inboxes (ACLs), and an event
    that names another source is refused here too."""
    if envelope.source != ROUTING_SOURCE:
        raise Unauthenticated(f"assignments come from {ROUTING_SOURCE}, not {envelope.source!r}")


async def on_assigned(work: UnitOfWork, envelope: Envelope[DossierAssigned]) -> None:
    session = work.session
    assigned = envelope.data
    await session.execute(
        insert(assignments)
        .values(
            dossier_code=assigned.dossier_code,
            agency_code=assigned.agency_code,
            step=assigned.step,
            procedure_code=assigned.procedure_code,
            assigned_at=assigned.assigned_at,
        )
        .on_conflict_do_nothing()
    )


async def on_step_cancelled(work: UnitOfWork, envelope: Envelope[DossierStepCancelled]) -> None:
    session = work.session
    cancelled = envelope.data
    await session.execute(
        delete(assignments).where(
            assignments.c.dossier_code == cancelled.dossier_code,
            assignments.c.agency_code == cancelled.agency_code,
            assignments.c.step == cancelled.step,
        )
    )


async def on_supplemented(work: UnitOfWork, envelope: Envelope[DossierSupplemented]) -> None:
    """Also on the inboxes; it changes no assignment."""


async def forget_dossier(session: AsyncSession, dossier_code: str) -> None:
    await session.execute(delete(assignments).where(assignments.c.dossier_code == dossier_code))


async def holds_step(session: AsyncSession, dossier_code: str, agency_code: str) -> bool:
    query = select(
        exists().where(assignments.c.dossier_code == dossier_code, assignments.c.agency_code == agency_code)
    )
    return bool(await session.scalar(query))
