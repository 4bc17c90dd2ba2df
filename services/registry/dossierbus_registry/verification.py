"""Handles `dossier.submitted`: look the applicant up for the dossier's procedure, log the access, and
publish `dossier.verified` with only the national facts that procedure needs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.population import NationalDatabases
from dossierbus_registry.adapters.tables import access_log
from dossierbus_registry.domain import verify
from dossierbus_shared.catalogue import Catalogue
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierSubmitted, DossierVerified
from dossierbus_shared.outbox import stage

SOURCE = "urn:dossierbus:registry"


class Verification:
    def __init__(self, catalogue: Catalogue, national: NationalDatabases) -> None:
        self.catalogue = catalogue
        self.national = national

    async def on_submitted(self, session: AsyncSession, envelope: Envelope[DossierSubmitted]) -> None:
        submitted = envelope.data
        procedure = self.catalogue.procedure(submitted.procedure_code)
        wanted = procedure.national_facts.get("population", []) if procedure else []
        citizen = await self.national.citizen(submitted.applicant.personal_id)
        reasons = verify(submitted.applicant, citizen)
        if procedure is None:
            reasons.append(f"unknown procedure {submitted.procedure_code!r}")
        facts = {name: citizen.fact(name) for name in wanted} if citizen and not reasons else {}
        await session.execute(
            access_log.insert().values(
                personal_id=submitted.applicant.personal_id,
                dossier_code=submitted.dossier_code,
                procedure_code=submitted.procedure_code,
                requested_by=envelope.source,
                fields=sorted(facts),
                found="yes" if citizen else "no",
            )
        )
        verified = DossierVerified(
            dossier_id=submitted.dossier_id,
            dossier_code=submitted.dossier_code,
            procedure_code=submitted.procedure_code,
            outcome="rejected" if reasons else "verified",
            reasons=reasons,
            channel=submitted.channel,
            applicant=submitted.applicant,
            form=submitted.form,
            national_facts=facts,
            submitted_at=submitted.submitted_at,
            due_date=submitted.due_date,
            verified_at=datetime.now(UTC),
        )
        await stage(session, Envelope(verified, source=SOURCE))
