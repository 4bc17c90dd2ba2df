"""Purpose-bound lookups and prefill: the only ways an agency or portal reads national data.

Every call, granted or refused, leaves an entry in the data subject's access log.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry import access_log
from dossierbus_registry.adapters.population import NationalDatabases
from dossierbus_registry.adapters.tables import consents, dossiers
from dossierbus_registry.agencies import AgencyRecord
from dossierbus_registry.purpose import (
    Consent,
    Database,
    LiveDossier,
    Refused,
    allowed_fields,
    check_agency,
    check_consent,
    check_dossier,
)
from dossierbus_shared.catalogue import Catalogue
from dossierbus_shared.db import Database as SqlDatabase

PORTAL_SECTOR = "one-stop"
"""Agencies of this sector run the one-stop portals that may prefill any procedure's form."""


@dataclass(frozen=True)
class LookupRequest:
    procedure_code: str
    dossier_code: str | None
    """None only for prefill, before the dossier exists."""
    consent_id: str | None
    database: Database
    subject: str
    """A personal ID (population) or a tax code (business)."""
    fields: list[str] | None = None


@dataclass(frozen=True)
class LookupResult:
    found: bool
    facts: dict[str, str]


class Lookups:
    def __init__(
        self,
        db: SqlDatabase,
        catalogue: Catalogue,
        national: NationalDatabases,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.catalogue = catalogue
        self.national = national
        self.clock = clock

    async def lookup(self, agency: AgencyRecord, request: LookupRequest) -> LookupResult:
        """Facts about the subject of a live dossier, limited to what its procedure needs."""
        return await self._read(agency, request, prefill=False)

    async def prefill(self, agency: AgencyRecord, request: LookupRequest) -> LookupResult:
        """What a portal may fill into a procedure's form before submission: always with consent."""
        return await self._read(agency, request, prefill=True)

    async def _read(self, agency: AgencyRecord, request: LookupRequest, *, prefill: bool) -> LookupResult:
        now = self.clock()
        try:
            fields = await self._permitted(agency, request, now, prefill=prefill)
        except Refused as refusal:
            await self._log(agency, request, [], "refused", f"{refusal.reason}: {refusal.detail}")
            raise
        record = (
            await self.national.citizen(request.subject)
            if request.database == "population"
            else await self.national.enterprise(request.subject)
        )
        facts = {name: record.fact(name) for name in fields} if record else {}
        await self._log(agency, request, sorted(facts), "granted", None if record else "not found")
        return LookupResult(record is not None, facts)

    async def _permitted(
        self, agency: AgencyRecord, request: LookupRequest, now: datetime, *, prefill: bool
    ) -> list[str]:
        procedure = self.catalogue.procedure(request.procedure_code)
        fields = allowed_fields(
            procedure, request.procedure_code, request.database, request.fields, now.date()
        )
        assert procedure is not None  # allowed_fields refuses an unknown procedure
        if not (prefill and agency.sector == PORTAL_SECTOR):
            check_agency(procedure, agency.code, [item["procedure_code"] for item in agency.handles])
        async with self.db.transaction() as session:
            if not prefill:
                assert request.dossier_code is not None
                dossier = await _live_dossier(session, request.dossier_code)
                check_dossier(
                    dossier, request.dossier_code, procedure.code, request.database, request.subject
                )
            consent = await _consent(session, request.consent_id)
        personal_id = request.subject if request.database == "population" else None
        if personal_id is not None:
            check_consent(
                procedure, consent, request.consent_id, personal_id, request.dossier_code, now, always=prefill
            )
        return fields

    async def _log(
        self,
        agency: AgencyRecord,
        request: LookupRequest,
        fields: list[str],
        outcome: access_log.Outcome,
        reason: str | None,
    ) -> None:
        async with self.db.transaction() as session:
            await access_log.record(
                session,
                access_log.Access(
                    subject=request.subject,
                    agency_code=agency.code,
                    procedure_code=request.procedure_code,
                    dossier_code=request.dossier_code,
                    consent_id=request.consent_id,
                    fields=fields,
                    outcome=outcome,
                    reason=reason,
                ),
            )


async def _live_dossier(session: AsyncSession, code: str) -> LiveDossier | None:
    row = (await session.execute(select(dossiers).where(dossiers.c.code == code))).first()
    if row is None:
        return None
    return LiveDossier(row.code, row.procedure_code, row.personal_id, row.tax_code, row.closed_at is not None)


async def _consent(session: AsyncSession, consent_id: str | None) -> Consent | None:
    if consent_id is None:
        return None
    try:
        key = uuid.UUID(consent_id)
    except ValueError:
        return None
    row = (await session.execute(select(consents).where(consents.c.id == key))).first()
    if row is None:
        return None
    return Consent(
        row.id,
        row.personal_id,
        row.procedure_code,
        row.dossier_code,
        row.granted_at,
        row.expires_at,
        row.withdrawn_at,
    )
