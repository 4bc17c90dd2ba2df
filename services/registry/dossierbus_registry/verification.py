"""Handles `dossier.submitted`: verify the applicant (and the enterprise, for business procedures)
against the national databases, log the access, count the once-only fields, and publish
`dossier.verified` with only the national facts the procedure needs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert

from dossierbus_registry import access_log, assignments
from dossierbus_registry.adapters.population import NationalDatabases
from dossierbus_registry.adapters.tables import dossiers
from dossierbus_registry.domain import verify, verify_enterprise
from dossierbus_registry.once_only import count_fields
from dossierbus_shared.catalogue import Catalogue
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierStatusChanged, DossierSubmitted, DossierVerified
from dossierbus_shared.identifiers import normalise_tax_code, tax_code_problems
from dossierbus_shared.outbox import stage
from dossierbus_shared.unit_of_work import UnitOfWork

SOURCE = "urn:dossierbus:registry"
REGISTRY = "registry"
"""The access log names the registry itself as the reader of the verification lookups."""
FINAL_STATUSES = {"returned", "rejected", "withdrawn"}


class Verification:
    def __init__(self, catalogue: Catalogue, national: NationalDatabases, key: access_log.ChainKey) -> None:
        self.catalogue = catalogue
        self.national = national
        self.key = key

    async def on_submitted(self, work: UnitOfWork, envelope: Envelope[DossierSubmitted]) -> None:
        session = work.session
        submitted = envelope.data
        procedure = self.catalogue.procedure(submitted.procedure_code)
        citizen = await self.national.citizen(submitted.applicant.personal_id)
        reasons = verify(submitted.applicant, citizen)
        facts: dict[str, str] = {}
        tax_code = None
        if procedure is None:
            reasons.append(f"unknown procedure {submitted.procedure_code!r}")
        elif procedure.enterprise_field:
            tax_code = normalise_tax_code(str(submitted.form.get(procedure.enterprise_field, "")))
            # A malformed code is refused by verify_enterprise without asking the national database.
            enterprise = None if tax_code_problems(tax_code) else await self.national.enterprise(tax_code)
            reasons += verify_enterprise(tax_code, enterprise, submitted.applicant.personal_id)
            if enterprise and not reasons:
                facts |= {
                    f"enterprise.{name}": enterprise.fact(name)
                    for name in procedure.national_facts["business"]
                }
        if procedure and citizen and not reasons:
            facts |= {name: citizen.fact(name) for name in procedure.national_facts.get("population", [])}
        from_national, typed = count_fields(session, submitted, len(facts))
        await session.execute(
            insert(dossiers)
            .values(
                code=submitted.dossier_code,
                procedure_code=submitted.procedure_code,
                personal_id=submitted.applicant.personal_id,
                tax_code=tax_code,
                submitted_at=submitted.submitted_at,
                closed_at=datetime.now(UTC) if reasons else None,
                fields_from_national_data=from_national,
                fields_typed=typed,
            )
            .on_conflict_do_nothing()
        )
        await access_log.record(
            session,
            access_log.Access(
                subject=submitted.applicant.personal_id,
                agency_code=REGISTRY,
                procedure_code=submitted.procedure_code,
                dossier_code=submitted.dossier_code,
                consent_id=None,
                fields=sorted(name for name in facts if not name.startswith("enterprise.")),
                outcome="granted" if citizen else "refused",
                reason="verification of the applicant" if citizen else "not found",
            ),
            self.key,
        )
        verified = DossierVerified(
            dossier_id=submitted.dossier_id,
            dossier_code=submitted.dossier_code,
            procedure_code=submitted.procedure_code,
            receiving_unit=submitted.receiving_unit,
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

    async def on_status_changed(self, work: UnitOfWork, envelope: Envelope[DossierStatusChanged]) -> None:
        """A dossier in a final status is closed: no lookup may name it any more, and no agency holds a
        step of it any more."""
        session = work.session
        if envelope.data.status in FINAL_STATUSES:
            await assignments.forget_dossier(session, envelope.data.dossier_code)
            await session.execute(
                update(dossiers)
                .where(dossiers.c.code == envelope.data.dossier_code, dossiers.c.closed_at.is_(None))
                .values(closed_at=envelope.data.changed_at)
            )
