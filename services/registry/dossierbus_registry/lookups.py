"""Purpose-bound lookups and prefill: the only ways an agency or the portal reads national data.

Every call, granted or refused, leaves an entry in an access log. It goes into the data subject's chain
when the reader had standing to ask about that subject (an agency holding an assigned step of a live
dossier of theirs); a refusal without standing goes into the reader's own chain (`reader_chain`), so no
reader can write into the log of a citizen it has nothing to do with.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry import access_log
from dossierbus_registry.adapters.population import NationalDatabases
from dossierbus_registry.adapters.tables import consents, dossiers
from dossierbus_registry.assignments import holds_step
from dossierbus_registry.consents import CITIZEN_EVIDENCE, sealed_by_registry
from dossierbus_registry.domain import Citizen, Enterprise
from dossierbus_registry.purpose import (
    PERSONAL_BUSINESS_FACTS,
    Consent,
    Database,
    LiveDossier,
    Refused,
    allowed_fields,
    check_assigned,
    check_consent,
    check_dossier,
    needs_consent,
)
from dossierbus_shared.catalogue import Catalogue, Procedure
from dossierbus_shared.db import Database as SqlDatabase

PORTAL_READER = "portal"
"""The one-stop portal, as a reader in the access log."""


def reader_chain(reader: str) -> str:
    """The chain that keeps a reader's refused requests about subjects it had no standing for."""
    return f"reader:{reader}"


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
    consent_id: str | None = None
    """The consent the read relied on, if it needed one."""


class _Refusal(Exception):
    def __init__(self, refused: Refused, *, standing: bool) -> None:
        super().__init__(refused.detail)
        self.refused = refused
        self.standing = standing


class Lookups:
    def __init__(
        self,
        db: SqlDatabase,
        catalogue: Catalogue,
        national: NationalDatabases,
        key: access_log.ChainKey,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.catalogue = catalogue
        self.national = national
        self.key = key
        self.clock = clock

    async def lookup(self, agency_code: str, request: LookupRequest) -> LookupResult:
        """Facts about the subject of a live dossier whose step this agency holds, limited to what its
        procedure needs."""
        return await self._read(agency_code, request, prefill=False)

    async def prefill(self, request: LookupRequest) -> LookupResult:
        """What the portal may fill into a procedure's form before submission: with the citizen's consent."""
        return await self._read(PORTAL_READER, request, prefill=True)

    async def _read(self, reader: str, request: LookupRequest, *, prefill: bool) -> LookupResult:
        try:
            result = await self._permitted_read(reader, request, prefill=prefill)
        except _Refusal as refusal:
            chain = request.subject if refusal.standing else reader_chain(reader)
            detail = f"{refusal.refused.reason}: {refusal.refused.detail}"
            await self._log(chain, reader, request, [], None, "refused", detail)
            raise refusal.refused from None
        reason = None if result.found else "not found"
        await self._log(
            request.subject, reader, request, sorted(result.facts), result.consent_id, "granted", reason
        )
        if representative := result.facts.get("legal_representative_id"):
            # Personal data of the representative: the read is in her own log too.
            personal = sorted(PERSONAL_BUSINESS_FACTS & set(result.facts))
            why = f"as legal representative of {request.subject}"
            await self._log(representative, reader, request, personal, result.consent_id, "granted", why)
        return result

    async def _permitted_read(self, reader: str, request: LookupRequest, *, prefill: bool) -> LookupResult:
        now = self.clock()
        standing = False
        try:
            procedure = self.catalogue.procedure(request.procedure_code)
            # Known, in force, and needing that database at all: public facts, no standing needed.
            allowed_fields(procedure, request.procedure_code, request.database, None, now.date())
            assert procedure is not None  # allowed_fields refuses an unknown procedure
            if not prefill:
                assert request.dossier_code is not None
                await self._check_standing(reader, request, procedure.code)
                standing = True
            fields = allowed_fields(procedure, procedure.code, request.database, request.fields, now.date())
            record = await self._record(request)
            consent = None
            if record is not None and needs_consent(procedure, request.database, fields, prefill=prefill):
                person = record.legal_representative_id if isinstance(record, Enterprise) else request.subject
                consent = await self._consent(request, procedure, person)
                check_consent(procedure, consent, request.consent_id, person, request.dossier_code, now)
        except Refused as refused:
            raise _Refusal(refused, standing=standing) from None
        facts = {name: record.fact(name) for name in fields} if record else {}
        return LookupResult(record is not None, facts, str(consent.id) if consent else None)

    async def _check_standing(self, reader: str, request: LookupRequest, procedure_code: str) -> None:
        assert request.dossier_code is not None
        async with self.db.transaction() as session:
            check_assigned(
                await holds_step(session, request.dossier_code, reader), reader, request.dossier_code
            )
            dossier = await _live_dossier(session, request.dossier_code)
        check_dossier(dossier, request.dossier_code, procedure_code, request.database, request.subject)

    async def _record(self, request: LookupRequest) -> Citizen | Enterprise | None:
        if request.database == "population":
            return await self.national.citizen(request.subject)
        return await self.national.enterprise(request.subject)

    async def _consent(self, request: LookupRequest, procedure: Procedure, person: str) -> Consent | None:
        async with self.db.transaction() as session:
            if request.consent_id is not None:
                row = await _consent_by_id(session, request.consent_id)
            else:
                row = await _live_consent(session, person, procedure.code, request.dossier_code, self.clock())
        return _consent(row, self.key) if row is not None else None

    async def _log(
        self,
        chain: str,
        reader: str,
        request: LookupRequest,
        fields: list[str],
        consent_id: str | None,
        outcome: access_log.Outcome,
        reason: str | None,
    ) -> None:
        about = f" about {request.subject}" if chain == reader_chain(reader) else ""
        async with self.db.transaction() as session:
            await access_log.record(
                session,
                access_log.Access(
                    subject=chain,
                    agency_code=reader,
                    procedure_code=request.procedure_code,
                    dossier_code=request.dossier_code,
                    consent_id=consent_id or request.consent_id,
                    fields=fields,
                    outcome=outcome,
                    reason=f"{reason}{about}" if reason else reason,
                ),
                self.key,
            )


async def _live_dossier(session: AsyncSession, code: str) -> LiveDossier | None:
    row = (await session.execute(select(dossiers).where(dossiers.c.code == code))).first()
    if row is None:
        return None
    return LiveDossier(row.code, row.procedure_code, row.personal_id, row.tax_code, row.closed_at is not None)


async def _consent_by_id(session: AsyncSession, consent_id: str) -> Row[Any] | None:
    try:
        key = uuid.UUID(consent_id)
    except ValueError:
        return None
    return (await session.execute(select(consents).where(consents.c.id == key))).first()


async def _live_consent(
    session: AsyncSession, personal_id: str, procedure_code: str, dossier_code: str | None, now: datetime
) -> Row[Any] | None:
    """The citizen's latest consent in force for this procedure (and this dossier, or any)."""
    any_dossier = consents.c.dossier_code.is_(None)
    dossier = (
        any_dossier if dossier_code is None else or_(any_dossier, consents.c.dossier_code == dossier_code)
    )
    return (
        await session.execute(
            select(consents)
            .where(
                consents.c.personal_id == personal_id,
                consents.c.procedure_code == procedure_code,
                dossier,
                consents.c.evidence_kind == CITIZEN_EVIDENCE,
                consents.c.withdrawn_at.is_(None),
                or_(consents.c.expires_at.is_(None), consents.c.expires_at > now),
            )
            .order_by(consents.c.granted_at.desc())
            .limit(1)
        )
    ).first()


def _consent(row: Row[Any], key: access_log.ChainKey) -> Consent:
    values = row._mapping
    return Consent(
        values["id"],
        values["personal_id"],
        values["procedure_code"],
        values["dossier_code"],
        values["granted_at"],
        values["expires_at"],
        values["withdrawn_at"],
        by_the_citizen=sealed_by_registry(key, row),
    )
