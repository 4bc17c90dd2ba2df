"""The access log: one entry per read of a subject's data, chained per subject under a secret key.

Each entry's hash is an HMAC-SHA256, under ACCESS_LOG_KEY, of its content, its sequence number and the
previous entry's hash; the subject's head (its last sequence number and hash) is HMAC-ed too and rewritten
with every append. The key is not in the database, so whoever can write the tables (with the append-only
trigger disabled) can change, remove or truncate entries but cannot make the chain and its head agree
again: `verify_chain` finds the first break, a missing entry, or missing last entries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import SecretStr
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.tables import access_log, access_log_heads
from dossierbus_shared.db import Database

GENESIS = "0" * 64
MIN_KEY_BYTES = 32
Outcome = Literal["granted", "refused"]
Row = Mapping[Any, Any]


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


class MissingKey(RuntimeError):
    pass


@dataclass(frozen=True)
class ChainKey:
    """The secret the chain is keyed with; `id` names it in every entry without revealing it.
    None: not configured (the registry then refuses to start, and nothing can be written or checked)."""

    secret: bytes | None

    def __post_init__(self) -> None:
        if self.secret is not None and len(self.secret) < MIN_KEY_BYTES:
            raise ValueError(f"ACCESS_LOG_KEY must be at least {MIN_KEY_BYTES} bytes")

    @classmethod
    def from_setting(cls, setting: SecretStr | None) -> ChainKey:
        return cls(setting.get_secret_value().encode() if setting else None)

    @property
    def id(self) -> str:
        return self.mac("dossierbus-access-log-key-id")[:16]

    def mac(self, message: str) -> str:
        if self.secret is None:
            raise MissingKey("ACCESS_LOG_KEY is not set: the access log can be neither written nor checked")
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()


def _canonical(content: Sequence[Any]) -> str:
    return json.dumps(list(content), ensure_ascii=False, separators=(",", ":"))


def entry_hash(prev_hash: str, seq: int, at: datetime, access: Access, key: ChainKey | None) -> str:
    """HMAC under `key`; plain SHA-256 only to check entries written before the log was keyed."""
    content = _canonical(
        [
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
    )
    return key.mac(content) if key else hashlib.sha256(content.encode()).hexdigest()


def head_mac(key: ChainKey, subject: str, seq: int, last_hash: str) -> str:
    return key.mac(_canonical(["head", subject, seq, last_hash]))


async def record(session: AsyncSession, access: Access, key: ChainKey) -> None:
    """Append one entry to the subject's chain and move its head, in the caller's transaction."""
    # One writer per subject at a time, so two lookups never both extend the same last entry.
    await _lock(session, access.subject)
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
    digest = entry_hash(prev_hash, seq, at, access, key)
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
            hash=digest,
            key_id=key.id,
        )
    )
    await _set_head(session, key, access.subject, seq, digest)


async def _lock(session: AsyncSession, subject: str) -> None:
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:subject, 766))"), {"subject": subject}
    )


async def _set_head(session: AsyncSession, key: ChainKey, subject: str, seq: int, last_hash: str) -> None:
    head = {
        "seq": seq,
        "hash": last_hash,
        "key_id": key.id,
        "mac": head_mac(key, subject, seq, last_hash),
    }
    await session.execute(
        insert(access_log_heads)
        .values(subject=subject, **head)
        .on_conflict_do_update(index_elements=[access_log_heads.c.subject], set_=head)
    )


async def seal_unkeyed_chains(db: Database, key: ChainKey, batch: int = 100) -> int:
    """Give a keyed head to every chain that has none (chains written before the log was keyed), so their
    end is protected from now on; how many were sealed. Run at start-up; one transaction per batch, as
    each subject is locked while it is sealed."""
    sealed = 0
    while True:
        async with db.transaction() as session:
            unsealed = (
                await session.scalars(
                    select(access_log.c.subject)
                    .where(~access_log.c.subject.in_(select(access_log_heads.c.subject)))
                    .group_by(access_log.c.subject)
                    .limit(batch)
                )
            ).all()
            for subject in unsealed:
                await _lock(session, subject)  # then the last entry cannot move while it is sealed
                if await head(session, subject) is not None:
                    continue  # another replica sealed it, or an append gave it a head, meanwhile
                last = (
                    await session.execute(
                        select(access_log.c.seq, access_log.c.hash)
                        .where(access_log.c.subject == subject)
                        .order_by(access_log.c.seq.desc())
                        .limit(1)
                    )
                ).one()
                await _set_head(session, key, subject, last.seq, last.hash)
                sealed += 1
        if not unsealed:
            return sealed


async def entries(session: AsyncSession, subject: str) -> list[Row]:
    rows = await session.execute(
        select(access_log).where(access_log.c.subject == subject).order_by(access_log.c.seq)
    )
    return [row._mapping for row in rows]


async def head(session: AsyncSession, subject: str) -> Row | None:
    row = (
        await session.execute(select(access_log_heads).where(access_log_heads.c.subject == subject))
    ).first()
    return row._mapping if row else None


async def count(session: AsyncSession, subject: str) -> int:
    query = select(func.count()).select_from(access_log).where(access_log.c.subject == subject)
    return int((await session.execute(query)).scalar_one())


@dataclass(frozen=True)
class ChainCheck:
    intact: bool
    entries: int
    first_broken_seq: int | None = None
    problem: str | None = None


def verify_chain(rows: Iterable[Row], head: Row | None, key: ChainKey) -> ChainCheck:
    """Check a subject's entries (in `seq` order) and its head; `entries`: how many are sound."""
    prev_hash, expected_seq, checked, keyed = GENESIS, 1, 0, False
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            return ChainCheck(False, checked, expected_seq, f"entry {expected_seq} is missing")
        if row["prev_hash"] != prev_hash:
            return ChainCheck(False, checked, seq, f"entry {seq} does not follow entry {seq - 1}")
        if row["key_id"] is None and keyed:
            return ChainCheck(False, checked, seq, f"entry {seq} is not keyed, yet follows keyed entries")
        if row["key_id"] is not None and row["key_id"] != key.id:
            problem = f"entry {seq} was written under another key ({row['key_id']})"
            return ChainCheck(False, checked, seq, problem)
        keyed = row["key_id"] is not None
        if entry_hash(prev_hash, seq, row["at"], _access(row), key if keyed else None) != row["hash"]:
            return ChainCheck(False, checked, seq, f"entry {seq} was changed after it was written")
        prev_hash, expected_seq, checked = row["hash"], seq + 1, checked + 1
    return _check_head(head, checked, prev_hash, key)


def _check_head(head: Row | None, last_seq: int, last_hash: str, key: ChainKey) -> ChainCheck:
    if head is None:
        if last_seq == 0:
            return ChainCheck(True, 0)
        return ChainCheck(False, last_seq, None, "the chain has no head: its end cannot be vouched for")
    subject = head["subject"]
    if head["key_id"] != key.id or head["mac"] != head_mac(key, subject, head["seq"], head["hash"]):
        return ChainCheck(False, last_seq, None, "the chain's head was altered")
    if head["seq"] > last_seq:
        first = last_seq + 1
        gone = f"entry {first}" if first == head["seq"] else f"entries {first} to {head['seq']}"
        return ChainCheck(False, last_seq, first, f"{gone} removed from the end of the chain")
    if head["seq"] < last_seq:
        seq = head["seq"] + 1
        return ChainCheck(False, head["seq"], seq, f"entries from {seq} on were added without the key")
    if head["hash"] != last_hash:
        problem = f"entry {last_seq} is not the one the chain's head vouches for: the chain was rewritten"
        return ChainCheck(False, 0, None, problem)
    return ChainCheck(True, last_seq)


def _access(row: Row) -> Access:
    return Access(
        subject=row["subject"],
        agency_code=row["agency_code"],
        procedure_code=row["procedure_code"],
        dossier_code=row["dossier_code"],
        consent_id=row["consent_id"],
        fields=list(row["fields"]),
        outcome=row["outcome"],
        reason=row["reason"],
    )


async def every_chain(session: AsyncSession, key: ChainKey) -> AsyncIterator[tuple[str, ChainCheck]]:
    """Every subject's chain check, heads without entries included, reading each table once in
    subject order (byte order, so the two streams merge in Python's string order)."""
    heads = await session.stream(select(access_log_heads).order_by(access_log_heads.c.subject.collate("C")))
    rows = await session.stream(
        select(access_log).order_by(access_log.c.subject.collate("C"), access_log.c.seq)
    )
    head_iter = aiter(heads.mappings())
    next_head = await anext(head_iter, None)
    subject: str | None = None
    chain: list[Row] = []

    async def heads_before(limit: str | None) -> AsyncIterator[tuple[str, ChainCheck]]:
        """Heads of subjects that come before `limit` (None: all the rest) have lost every entry."""
        nonlocal next_head
        while next_head is not None and (limit is None or next_head["subject"] < limit):
            yield next_head["subject"], verify_chain([], next_head, key)
            next_head = await anext(head_iter, None)

    async def finish(done: str) -> AsyncIterator[tuple[str, ChainCheck]]:
        nonlocal next_head
        async for orphan in heads_before(done):
            yield orphan
        own = next_head if next_head is not None and next_head["subject"] == done else None
        if own is not None:
            next_head = await anext(head_iter, None)
        yield done, verify_chain(chain, own, key)

    async for row in rows.mappings():
        if row["subject"] != subject:
            if subject is not None:
                async for result in finish(subject):
                    yield result
            subject, chain = row["subject"], []
        chain.append(row)
    if subject is not None:
        async for result in finish(subject):
            yield result
    async for orphan in heads_before(None):
        yield orphan
