"""Consent records: given by the citizen's own authenticated act, per procedure (optionally per dossier),
withdrawable by them, never deleted.

Silence is not consent: a consent exists only as an explicit record of the citizen's act (Decree
356/2025). It is recorded only from the citizen's own eID token, and its evidence is what that token
proved (issuer, subject, personal ID, when it was issued and expires, its id and SHA-256), sealed with an
HMAC under the registry's key: a consent written into the table by anything but the registry (a database
user, an agency before this rule) carries no valid seal and covers no lookup. The token itself is not
kept: it is a bearer credential, and would let whoever reads the table act as the citizen until it
expires.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from dossierbus_registry.access_log import ChainKey
from dossierbus_registry.adapters.tables import consents
from dossierbus_shared.db import Database

CITIZEN_EVIDENCE = "oidc-token"
"""`consents.evidence_kind` of a consent the citizen gave by their own authenticated act."""


class UnknownConsent(Exception):
    pass


@dataclass(frozen=True)
class CitizenAct:
    """What the citizen's verified token proves about who gave the consent."""

    personal_id: str
    token: str
    issuer: str
    token_subject: str
    issued_at: int | None
    expires_at: int | None
    token_id: str | None


def evidence_seal(key: ChainKey, consent: dict[str, Any], evidence: dict[str, Any]) -> str:
    """HMAC over what was consented to and the evidence of who consented."""
    content = [
        "consent",
        consent["id"],
        consent["personal_id"],
        consent["procedure_code"],
        consent["dossier_code"],
        consent["granted_at"],
        consent["expires_at"],
        {name: value for name, value in sorted(evidence.items()) if name != "seal"},
    ]
    return key.mac(json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True))


def sealed_by_registry(key: ChainKey, row: Any) -> bool:
    """Whether a consent row is one the registry recorded from a citizen's act, unaltered."""
    values = row._mapping
    if values["evidence_kind"] != CITIZEN_EVIDENCE:
        return False
    try:
        evidence = json.loads(values["evidence"])
    except ValueError:
        return False
    if not isinstance(evidence, dict) or "seal" not in evidence:
        return False
    seal = evidence_seal(key, _sealed_fields(values), evidence)
    return bool(seal == evidence["seal"])


def _sealed_fields(values: Any) -> dict[str, Any]:
    return {
        "id": str(values["id"]),
        "personal_id": values["personal_id"],
        "procedure_code": values["procedure_code"],
        "dossier_code": values["dossier_code"],
        "granted_at": values["granted_at"].astimezone(UTC).isoformat(),
        "expires_at": values["expires_at"].astimezone(UTC).isoformat() if values["expires_at"] else None,
    }


def consent_view(row: Any) -> dict[str, Any]:
    evidence = json.loads(row.evidence) if row.evidence_kind == CITIZEN_EVIDENCE else None
    return {
        "consent_id": str(row.id),
        "personal_id": row.personal_id,
        "procedure_code": row.procedure_code,
        "dossier_code": row.dossier_code,
        "granted_via": row.granted_via,
        "evidence_kind": row.evidence_kind,
        "evidence": evidence,
        "recorded_by": row.recorded_by,
        "granted_at": row.granted_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "withdrawn_at": row.withdrawn_at.isoformat() if row.withdrawn_at else None,
    }


class Consents:
    def __init__(self, db: Database, key: ChainKey) -> None:
        self.db = db
        self.key = key

    async def give(
        self,
        act: CitizenAct,
        *,
        procedure_code: str,
        dossier_code: str | None,
        granted_via: str,
        recorded_by: str,
        expires_at: datetime | None,
    ) -> dict[str, Any]:
        # Whole seconds, so the sealed times read back exactly as they were sealed.
        granted_at = datetime.now(UTC).replace(microsecond=0)
        expires = expires_at.astimezone(UTC).replace(microsecond=0) if expires_at else None
        consent = {
            "id": str(uuid.uuid4()),
            "personal_id": act.personal_id,
            "procedure_code": procedure_code,
            "dossier_code": dossier_code,
            "granted_at": granted_at.isoformat(),
            "expires_at": expires.isoformat() if expires else None,
        }
        evidence: dict[str, Any] = {
            "issuer": act.issuer,
            "subject": act.token_subject,
            "personal_id": act.personal_id,
            "issued_at": act.issued_at,
            "expires_at": act.expires_at,
            "token_id": act.token_id,
            "token_sha256": hashlib.sha256(act.token.encode()).hexdigest(),
        }
        evidence["seal"] = evidence_seal(self.key, consent, evidence)
        async with self.db.transaction() as session:
            row = (
                await session.execute(
                    consents.insert()
                    .values(
                        id=uuid.UUID(consent["id"]),
                        personal_id=act.personal_id,
                        procedure_code=procedure_code,
                        dossier_code=dossier_code,
                        granted_via=granted_via,
                        evidence=json.dumps(evidence, ensure_ascii=False, sort_keys=True),
                        evidence_kind=CITIZEN_EVIDENCE,
                        recorded_by=recorded_by,
                        granted_at=granted_at,
                        expires_at=expires,
                    )
                    .returning(consents)
                )
            ).one()
        return consent_view(row)

    async def withdraw(self, consent_id: uuid.UUID, personal_id: str) -> dict[str, Any]:
        """Withdraw one of this citizen's consents (idempotent: a second withdrawal keeps the first time).
        Another person's consent is as unknown as one that does not exist."""
        mine = (consents.c.id == consent_id, consents.c.personal_id == personal_id)
        async with self.db.transaction() as session:
            await session.execute(
                update(consents)
                .where(*mine, consents.c.withdrawn_at.is_(None))
                .values(withdrawn_at=datetime.now(UTC))
            )
            row = (await session.execute(select(consents).where(*mine))).first()
        if row is None:
            raise UnknownConsent(str(consent_id))
        return consent_view(row)

    async def of(self, personal_id: str) -> list[dict[str, Any]]:
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(consents).where(consents.c.personal_id == personal_id).order_by(consents.c.granted_at)
            )
        return [consent_view(row) for row in rows]
