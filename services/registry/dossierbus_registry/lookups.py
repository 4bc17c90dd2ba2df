"""Purpose-bound lookups and prefill: the only ways an agency or the portal reads national data.

Every call, granted or refused, leaves an entry in an access log, in the same transaction as the reads
that decided it. It goes into the data subject's chain when the reader had standing to ask about that
subject (an agency holding an assigned step of a live dossier of theirs); a refusal without standing goes
into the reader's own chain (`reader_chain`), so no reader can write into the log of a citizen it has
nothing to do with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dossierbus_registry.domain.access_log import Access, ChainKey, Outcome
from dossierbus_registry.domain.national import Citizen, Enterprise
from dossierbus_registry.domain.purpose import (
    PERSONAL_BUSINESS_FACTS,
    Consent,
    Database,
    Refused,
    allowed_fields,
    check_assigned,
    check_consent,
    check_dossier,
    needs_consent,
)
from dossierbus_registry.unit_of_work import RegistryUnitOfWork, UnitsOfWork
from dossierbus_shared.catalogue import Catalogue, Procedure

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
        unit_of_work: UnitsOfWork,
        catalogue: Catalogue,
        key: ChainKey,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.unit_of_work = unit_of_work
        self.catalogue = catalogue
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
        refused: Refused | None = None
        async with self.unit_of_work() as uow:
            try:
                result = await self._permitted_read(uow, reader, request, prefill=prefill)
            except _Refusal as refusal:
                chain = request.subject if refusal.standing else reader_chain(reader)
                detail = f"{refusal.refused.reason}: {refusal.refused.detail}"
                uow.access_log.record(_access(chain, reader, request, [], None, "refused", detail))
                refused = refusal.refused
            else:
                self._log_granted(uow, reader, request, result)
        if refused is not None:  # raised once its entry is committed
            raise refused
        return result

    def _log_granted(
        self, uow: RegistryUnitOfWork, reader: str, request: LookupRequest, result: LookupResult
    ) -> None:
        reason = None if result.found else "not found"
        facts = sorted(result.facts)
        uow.access_log.record(
            _access(request.subject, reader, request, facts, result.consent_id, "granted", reason)
        )
        if representative := result.facts.get("legal_representative_id"):
            # Personal data of the representative: the read is in her own log too.
            personal = sorted(PERSONAL_BUSINESS_FACTS & set(result.facts))
            why = f"as legal representative of {request.subject}"
            uow.access_log.record(
                _access(representative, reader, request, personal, result.consent_id, "granted", why)
            )

    async def _permitted_read(
        self, uow: RegistryUnitOfWork, reader: str, request: LookupRequest, *, prefill: bool
    ) -> LookupResult:
        now = self.clock()
        standing = False
        try:
            procedure = self.catalogue.procedure(request.procedure_code)
            # Known, in force, and needing that database at all: public facts, no standing needed.
            allowed_fields(procedure, request.procedure_code, request.database, None, now.date())
            assert procedure is not None  # allowed_fields refuses an unknown procedure
            if not prefill:
                await self._check_standing(uow, reader, request, procedure.code)
                standing = True
            fields = allowed_fields(procedure, procedure.code, request.database, request.fields, now.date())
            record = await self._record(uow, request)
            consent = None
            if record is not None and needs_consent(procedure, request.database, fields, prefill=prefill):
                person = record.legal_representative_id if isinstance(record, Enterprise) else request.subject
                consent = await self._consent(uow, request, procedure, person, now)
                check_consent(procedure, consent, request.consent_id, person, request.dossier_code, now)
        except Refused as refused:
            raise _Refusal(refused, standing=standing) from None
        facts = {name: record.fact(name) for name in fields} if record else {}
        return LookupResult(record is not None, facts, str(consent.id) if consent else None)

    async def _check_standing(
        self, uow: RegistryUnitOfWork, reader: str, request: LookupRequest, procedure_code: str
    ) -> None:
        assert request.dossier_code is not None
        holds = await uow.assignments.holds_step(request.dossier_code, reader)
        check_assigned(holds, reader, request.dossier_code)
        dossier = await uow.dossiers.get(request.dossier_code)
        check_dossier(dossier, request.dossier_code, procedure_code, request.database, request.subject)

    async def _record(self, uow: RegistryUnitOfWork, request: LookupRequest) -> Citizen | Enterprise | None:
        if request.database == "population":
            return await uow.national.citizen(request.subject)
        return await uow.national.enterprise(request.subject)

    async def _consent(
        self,
        uow: RegistryUnitOfWork,
        request: LookupRequest,
        procedure: Procedure,
        person: str,
        now: datetime,
    ) -> Consent | None:
        if request.consent_id is not None:
            record = await uow.consents.get(request.consent_id)
        else:
            record = await uow.consents.live(person, procedure.code, request.dossier_code, now)
        return record.for_purpose(self.key) if record is not None else None


def _access(
    chain: str,
    reader: str,
    request: LookupRequest,
    fields: list[str],
    consent_id: str | None,
    outcome: Outcome,
    reason: str | None,
) -> Access:
    about = f" about {request.subject}" if chain == reader_chain(reader) else ""
    return Access(
        subject=chain,
        agency_code=reader,
        procedure_code=request.procedure_code,
        dossier_code=request.dossier_code,
        consent_id=consent_id or request.consent_id,
        fields=fields,
        outcome=outcome,
        reason=f"{reason}{about}" if reason else reason,
    )
