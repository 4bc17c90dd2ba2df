"""Consent records: given per procedure (optionally per dossier), withdrawable, never deleted.

Silence is not consent: a consent exists only as an explicit record with how it was given and the
evidence of it (Decree 356/2025), and a withdrawal takes effect for every later lookup.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from dossierbus_registry.adapters.tables import consents
from dossierbus_shared.db import Database


class UnknownConsent(Exception):
    pass


def consent_view(row: Any) -> dict[str, Any]:
    return {
        "consent_id": str(row.id),
        "personal_id": row.personal_id,
        "procedure_code": row.procedure_code,
        "dossier_code": row.dossier_code,
        "granted_via": row.granted_via,
        "evidence": row.evidence,
        "recorded_by": row.recorded_by,
        "granted_at": row.granted_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "withdrawn_at": row.withdrawn_at.isoformat() if row.withdrawn_at else None,
    }


class Consents:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def give(
        self,
        *,
        personal_id: str,
        procedure_code: str,
        dossier_code: str | None,
        granted_via: str,
        evidence: str,
        recorded_by: str,
        expires_at: datetime | None,
    ) -> dict[str, Any]:
        async with self.db.transaction() as session:
            row = (
                await session.execute(
                    consents.insert()
                    .values(
                        id=uuid.uuid4(),
                        personal_id=personal_id,
                        procedure_code=procedure_code,
                        dossier_code=dossier_code,
                        granted_via=granted_via,
                        evidence=evidence,
                        recorded_by=recorded_by,
                        granted_at=datetime.now(UTC),
                        expires_at=expires_at,
                    )
                    .returning(consents)
                )
            ).one()
        return consent_view(row)

    async def withdraw(self, consent_id: uuid.UUID) -> dict[str, Any]:
        """Withdraw (idempotent: a second withdrawal keeps the first time)."""
        async with self.db.transaction() as session:
            await session.execute(
                update(consents)
                .where(consents.c.id == consent_id, consents.c.withdrawn_at.is_(None))
                .values(withdrawn_at=datetime.now(UTC))
            )
            row = (await session.execute(select(consents).where(consents.c.id == consent_id))).first()
        if row is None:
            raise UnknownConsent(str(consent_id))
        return consent_view(row)

    async def of(self, personal_id: str) -> list[dict[str, Any]]:
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(consents).where(consents.c.personal_id == personal_id).order_by(consents.c.granted_at)
            )
        return [consent_view(row) for row in rows]
