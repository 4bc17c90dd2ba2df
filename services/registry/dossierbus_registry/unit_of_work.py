"""The registry's unit of work: one transaction with its repositories. The records a run of consumed events
needs are read before its handlers run, one query per table (and one call per national database); what
the handlers decided is written once at the end, its inserts in one statement with the outbox rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.access_log import AccessLogRepository, SqlAccessLogRepository
from dossierbus_registry.adapters.assignments import AssignmentRepository, SqlAssignmentRepository
from dossierbus_registry.adapters.consents import ConsentRepository, SqlConsentRepository
from dossierbus_registry.adapters.dossiers import DossierRepository, SqlDossierRepository
from dossierbus_registry.adapters.national import NationalRecords
from dossierbus_registry.adapters.population import NationalDatabases
from dossierbus_registry.domain.access_log import ChainKey
from dossierbus_registry.domain.dossiers import FINAL_STATUSES
from dossierbus_registry.domain.verification import enterprise_to_read
from dossierbus_shared.catalogue import Catalogue
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierStatusChanged, DossierSubmitted
from dossierbus_shared.unit_of_work import UnitOfWork


class RegistryUnitOfWork(UnitOfWork):
    def __init__(
        self,
        session: AsyncSession,
        *,
        catalogue: Catalogue,
        national: NationalRecords,
        dossiers: DossierRepository,
        assignments: AssignmentRepository,
        consents: ConsentRepository,
        access_log: AccessLogRepository,
    ) -> None:
        super().__init__(session)
        self.catalogue = catalogue
        self.national = national
        self.dossiers = dossiers
        self.assignments = assignments
        self.consents = consents
        self.access_log = access_log

    @classmethod
    def in_database(
        cls, session: AsyncSession, *, catalogue: Catalogue, national: NationalDatabases, key: ChainKey
    ) -> RegistryUnitOfWork:
        return cls(
            session,
            catalogue=catalogue,
            national=NationalRecords(national),
            dossiers=SqlDossierRepository(session),
            assignments=SqlAssignmentRepository(session),
            consents=SqlConsentRepository(session),
            access_log=SqlAccessLogRepository(session, key),
        )

    async def load(self, envelopes: Sequence[Envelope[Any]]) -> None:
        """The national records of the submitted dossiers' applicants and enterprises, and the dossiers
        that reach a final status."""
        events = [envelope.data for envelope in envelopes]
        submitted = [event for event in events if isinstance(event, DossierSubmitted)]
        tax_codes = [
            enterprise_to_read(self.catalogue.procedure(dossier.procedure_code), dossier.form)
            for dossier in submitted
        ]
        await self.national.load(
            personal_ids=[dossier.applicant.personal_id for dossier in submitted],
            tax_codes=[tax_code for tax_code in tax_codes if tax_code],
        )
        await self.dossiers.load(
            event.dossier_code
            for event in events
            if isinstance(event, DossierStatusChanged) and event.status in FINAL_STATUSES
        )

    async def flush(self) -> None:
        await self.dossiers.flush()
        await self.assignments.flush()
        await self.access_log.flush()
        await super().flush()


UnitsOfWork = Callable[[], AbstractAsyncContextManager[RegistryUnitOfWork]]
"""Opens a unit of work for a use case (`Service.unit_of_work`): flushed and committed when it ends."""
