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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from dossierbus_registry.domain.access_log import ChainKey
from dossierbus_registry.domain.purpose import Consent

CITIZEN_EVIDENCE = "oidc-token"
"""`evidence_kind` of a consent the citizen gave by their own authenticated act."""


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


@dataclass(frozen=True)
class ConsentRecord:
    id: uuid.UUID
    personal_id: str
    procedure_code: str
    dossier_code: str | None
    granted_via: str
    evidence: str
    """JSON: what the citizen's token proved, with its seal (CITIZEN_EVIDENCE), or what was declared."""
    evidence_kind: str
    recorded_by: str
    granted_at: datetime
    expires_at: datetime | None
    withdrawn_at: datetime | None = None

    @classmethod
    def given(
        cls,
        act: CitizenAct,
        key: ChainKey,
        *,
        procedure_code: str,
        dossier_code: str | None,
        granted_via: str,
        recorded_by: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> ConsentRecord:
        """The consent the citizen gives by `act`, its evidence sealed under `key`."""
        evidence: dict[str, Any] = {
            "issuer": act.issuer,
            "subject": act.token_subject,
            "personal_id": act.personal_id,
            "issued_at": act.issued_at,
            "expires_at": act.expires_at,
            "token_id": act.token_id,
            "token_sha256": hashlib.sha256(act.token.encode()).hexdigest(),
        }
        # Whole seconds, so the sealed times read back exactly as they were sealed.
        consent = cls(
            id=uuid.uuid4(),
            personal_id=act.personal_id,
            procedure_code=procedure_code,
            dossier_code=dossier_code,
            granted_via=granted_via,
            evidence="",
            evidence_kind=CITIZEN_EVIDENCE,
            recorded_by=recorded_by,
            granted_at=now.astimezone(UTC).replace(microsecond=0),
            expires_at=expires_at.astimezone(UTC).replace(microsecond=0) if expires_at else None,
        )
        evidence["seal"] = consent._seal(key, evidence)
        return replace(consent, evidence=json.dumps(evidence, ensure_ascii=False, sort_keys=True))

    def evidence_given(self) -> dict[str, Any] | None:
        """The evidence of the citizen's act; None for a consent declared without one."""
        if self.evidence_kind != CITIZEN_EVIDENCE:
            return None
        try:
            evidence = json.loads(self.evidence)
        except ValueError:
            return None
        return evidence if isinstance(evidence, dict) else None

    def sealed_by(self, key: ChainKey) -> bool:
        """Whether the registry recorded it from a citizen's act, unaltered since."""
        evidence = self.evidence_given()
        return evidence is not None and "seal" in evidence and self._seal(key, evidence) == evidence["seal"]

    def for_purpose(self, key: ChainKey) -> Consent:
        """The consent as purpose binding weighs it."""
        return Consent(
            self.id,
            self.personal_id,
            self.procedure_code,
            self.dossier_code,
            self.granted_at,
            self.expires_at,
            self.withdrawn_at,
            by_the_citizen=self.sealed_by(key),
        )

    def _seal(self, key: ChainKey, evidence: dict[str, Any]) -> str:
        """HMAC over what was consented to and the evidence of who consented."""
        content = [
            "consent",
            str(self.id),
            self.personal_id,
            self.procedure_code,
            self.dossier_code,
            self.granted_at.astimezone(UTC).isoformat(),
            self.expires_at.astimezone(UTC).isoformat() if self.expires_at else None,
            {name: value for name, value in sorted(evidence.items()) if name != "seal"},
        ]
        return key.mac(json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True))
