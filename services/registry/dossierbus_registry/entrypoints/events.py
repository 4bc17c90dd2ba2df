"""What each consumed event does, within the unit of work of its run of records.

`dossier.submitted`: verify the applicant (and the enterprise, for business procedures) against the
national records, log the read, count the once-only fields, publish `dossier.verified` with only the
national facts the procedure needs. `dossier.status-changed` to a final status: close the dossier, so no
lookup may name it and no agency holds a step of it any more. The agencies' inboxes: who holds which step
of which dossier (purpose binding).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from dossierbus_registry.domain.assignments import Assignment, Step
from dossierbus_registry.domain.dossiers import FINAL_STATUSES, Dossier
from dossierbus_registry.domain.verification import enterprise_to_read, verify_submission
from dossierbus_registry.unit_of_work import RegistryUnitOfWork
from dossierbus_shared.catalogue import Catalogue
from dossierbus_shared.consumer import EventConsumer, Unauthenticated
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    DossierAssigned,
    DossierStatusChanged,
    DossierStepCancelled,
    DossierSubmitted,
    DossierSupplemented,
    DossierVerified,
)

SOURCE = "urn:dossierbus:registry"
ROUTING_SOURCE = "urn:dossierbus:routing"
INBOX_TOPICS = r"agency\.[a-z0-9-]+\.inbox"
"""Every agency's inbox, those onboarded while the registry runs included."""
CONSUMES = [DossierSubmitted.topic, DossierStatusChanged.topic]
PRODUCES = [DossierVerified.topic]

ONCE_ONLY_FIELDS = Counter(
    "dossierbus_once_only_fields",
    "Dossier fields by where they came from: national data or the applicant's typing",
    ["procedure_code", "source"],
)


async def from_routing(envelope: Envelope[DossierAssigned] | Envelope[DossierStepCancelled]) -> None:
    """Only routing assigns steps; on the broker only routing may write to inboxes (ACLs), and an event
    that names another source is refused here too."""
    if envelope.source != ROUTING_SOURCE:
        raise Unauthenticated(f"assignments come from {ROUTING_SOURCE}, not {envelope.source!r}")


class EventHandlers:
    def __init__(
        self, catalogue: Catalogue, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.catalogue = catalogue
        self.clock = clock

    def register(self, consumer: EventConsumer[Any]) -> None:
        consumer.on(DossierSubmitted)(self.on_submitted)
        # Only a final status changes anything here: the others are acknowledged without a transaction.
        consumer.on(DossierStatusChanged, when=ends_the_dossier)(self.on_status_changed)
        consumer.on(DossierAssigned, authenticate=from_routing)(self.on_assigned)
        consumer.on(DossierStepCancelled, authenticate=from_routing)(self.on_step_cancelled)
        consumer.ignore(DossierSupplemented)  # also on the inboxes; it changes no assignment

    async def on_submitted(self, uow: RegistryUnitOfWork, envelope: Envelope[DossierSubmitted]) -> None:
        submitted = envelope.data
        procedure = self.catalogue.procedure(submitted.procedure_code)
        citizen = await uow.national.citizen(submitted.applicant.personal_id)
        tax_code = enterprise_to_read(procedure, submitted.form)
        enterprise = await uow.national.enterprise(tax_code) if tax_code else None
        verification = verify_submission(submitted, procedure, citizen, enterprise, self.clock())
        uow.dossiers.add(verification.dossier)
        uow.access_log.record(verification.access)
        uow.stage(Envelope(verification.verified, source=SOURCE))
        uow.after_commit(lambda: _count_once_only(verification.dossier))  # a retried one counts once

    async def on_status_changed(
        self, uow: RegistryUnitOfWork, envelope: Envelope[DossierStatusChanged]
    ) -> None:
        changed = envelope.data
        if changed.status in FINAL_STATUSES:
            uow.assignments.forget(changed.dossier_code)
            if dossier := await uow.dossiers.get(changed.dossier_code):
                dossier.close(changed.changed_at)

    async def on_assigned(self, uow: RegistryUnitOfWork, envelope: Envelope[DossierAssigned]) -> None:
        assigned = envelope.data
        step = Step(assigned.dossier_code, assigned.agency_code, assigned.step)
        uow.assignments.assign(Assignment(step, assigned.procedure_code, assigned.assigned_at))

    async def on_step_cancelled(
        self, uow: RegistryUnitOfWork, envelope: Envelope[DossierStepCancelled]
    ) -> None:
        cancelled = envelope.data
        uow.assignments.cancel(Step(cancelled.dossier_code, cancelled.agency_code, cancelled.step))


def ends_the_dossier(envelope: Envelope[DossierStatusChanged]) -> bool:
    return envelope.data.status in FINAL_STATUSES


def _count_once_only(dossier: Dossier) -> None:
    ONCE_ONLY_FIELDS.labels(dossier.procedure_code, "national").inc(dossier.fields_from_national_data)
    ONCE_ONLY_FIELDS.labels(dossier.procedure_code, "typed").inc(dossier.fields_typed)
