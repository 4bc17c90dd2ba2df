"""The access log: one entry per lookup, granted or refused, hash-chained per data subject.

Each entry's hash covers its content and the previous entry's hash, so changing, removing or reordering
an entry breaks every hash after it; `verify_chain` finds the first break.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.tables import access_log

GENESIS = "0" * 64
Outcome = Literal["granted", "refused"]


@dataclass(frozen=True)
class Access:
    """What one lookup asked for, on whose behalf and why, and what it was given."""

    subject: str
    agency_code: str
    procedure_code: str
    dossier_code: str | None
    consent_id: str | None
    fields: Sequence[str]
    outcome: Outcome
    reason: str | None = None


def entry_hash(prev_hash: str, seq: int, at: datetime, access: Access) -> str:
    content = [
        prev_hash,
        access.subject,
        seq,
        at.astimezone(UTC).isoformat(),
        access.agency_code,
        access.procedure_code,
        access.dossier_code,
        access.consent_id,
        sorted(access.fields),
        access.outcome,
        access.reason,
    ]
    canonical = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def record(session: AsyncSession, access: Access) -> None:
    """Append one entry to the subject's chain, in the caller's transaction."""
    # One writer per subject at a time, so two lookups never both extend the same last entry.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:subject, 766))"), {"subject": access.subject}
    )
    last = (
        await session.execute(
            select(access_log.c.seq, access_log.c.hash)
            .where(access_log.c.subject == access.subject)
            .order_by(access_log.c.seq.desc())
            .limit(1)
        )
    ).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS)
    at = datetime.now(UTC)
    await session.execute(
        access_log.insert().values(
            subject=access.subject,
            seq=seq,
            at=at,
            agency_code=access.agency_code,
            procedure_code=access.procedure_code,
            dossier_code=access.dossier_code,
            consent_id=access.consent_id,
            fields=sorted(access.fields),
            outcome=access.outcome,
            reason=access.reason,
            prev_hash=prev_hash,
            hash=entry_hash(prev_hash, seq, at, access),
        )
    )


async def entries(session: AsyncSession, subject: str) -> list[Mapping[Any, Any]]:
    rows = await session.execute(
        select(access_log).where(access_log.c.subject == subject).order_by(access_log.c.seq)
    )
    return [row._mapping for row in rows]


async def count(session: AsyncSession, subject: str) -> int:
    query = select(func.count()).select_from(access_log).where(access_log.c.subject == subject)
    return int((await session.execute(query)).scalar_one())


@dataclass(frozen=True)
class ChainCheck:
    intact: bool
    entries: int
    first_broken_seq: int | None = None
    problem: str | None = None


def verify_chain(rows: Iterable[Mapping[Any, Any]]) -> ChainCheck:
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            return ChainCheck(False, checked, expected_seq, f"entry {expected_seq} is missing")
        if row["prev_hash"] != prev_hash:
            return ChainCheck(False, checked, seq, f"entry {seq} does not follow entry {seq - 1}")
        access = Access(
            subject=row["subject"],
            agency_code=row["agency_code"],
            procedure_code=row["procedure_code"],
            dossier_code=row["dossier_code"],
            consent_id=row["consent_id"],
            fields=list(row["fields"]),
            outcome=row["outcome"],
            reason=row["reason"],
        )
        if entry_hash(prev_hash, seq, row["at"], access) != row["hash"]:
            return ChainCheck(False, checked, seq, f"entry {seq} was changed after it was written")
        prev_hash, expected_seq, checked = row["hash"], seq + 1, checked + 1
    return ChainCheck(True, checked)
