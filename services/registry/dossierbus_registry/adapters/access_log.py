"""The access log in PostgreSQL: the accesses of a unit of work appended to their chains at once, and the
chains read back for citizens, auditors and `dossierbus-registry access-log verify`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.tables import access_log, access_log_heads
from dossierbus_registry.domain.access_log import (
    GENESIS,
    Access,
    Chain,
    ChainCheck,
    ChainKey,
    Row,
    verify_chain,
)
from dossierbus_shared.db import Database
from dossierbus_shared.db.writes import pending_writes

ChainEnds = dict[str, tuple[int, str]]
"""Subject -> (sequence number, hash) of its chain's last entry."""


class AccessLogRepository(ABC):
    """The accesses recorded during a unit of work, appended when it is flushed: the chains they extend
    are locked and read at once; their entries and new heads go with the transaction's other writes."""

    def __init__(self, key: ChainKey, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.key = key
        self.clock = clock
        self._recorded: list[Access] = []
        self._written: ChainEnds = {}
        """Where this unit of work left each chain it appended to: its entries are written at the commit,
        so a second flush would not read them back."""

    def record(self, access: Access) -> None:
        self._recorded.append(access)

    async def flush(self) -> None:
        """Append what was recorded."""
        if not self._recorded:
            return
        # One order for every writer, so two transactions never each hold a chain the other waits for.
        subjects = sorted({access.subject for access in self._recorded})
        ends = await self._lock_and_read(subjects) | {
            subject: self._written[subject] for subject in subjects if subject in self._written
        }
        at = self.clock()  # after the locks: entries of a chain are in time order
        chains = {subject: Chain(subject, *ends.get(subject, (0, GENESIS))) for subject in subjects}
        for access in self._recorded:
            chains[access.subject].append(access, at, self.key)
        self._recorded.clear()
        self._written |= {chain.subject: (chain.seq, chain.last_hash) for chain in chains.values()}
        await self._write(list(chains.values()))

    @abstractmethod
    async def _lock_and_read(self, subjects: Sequence[str]) -> ChainEnds:
        """Hold these subjects' chains until the transaction ends, locking them in the order given; then
        where each ends (none: an empty chain)."""

    @abstractmethod
    async def _write(self, chains: Sequence[Chain]) -> None:
        """Insert the chains' appended entries and set their heads."""


# The locks are taken in the order of the array, one row after the other.
_LOCK = """SELECT pg_advisory_xact_lock(hashtextextended(subject, 766))
           FROM unnest(CAST(:subjects AS text[])) AS subject"""
_ENDS = """SELECT last.subject, last.seq, last.hash
           FROM unnest(CAST(:subjects AS text[])) AS chain(subject)
           JOIN LATERAL (SELECT subject, seq, hash FROM access_log WHERE subject = chain.subject
                         ORDER BY seq DESC LIMIT 1) AS last ON true"""


class SqlAccessLogRepository(AccessLogRepository):
    def __init__(self, session: AsyncSession, key: ChainKey) -> None:
        super().__init__(key)
        self.session = session

    async def _lock_and_read(self, subjects: Sequence[str]) -> ChainEnds:
        # Two statements: a statement reads what was committed when it began, so the read must come
        # after the wait for the locks, or it could miss the entry of the writer it waited for.
        await self.session.execute(text(_LOCK), {"subjects": subjects})
        rows = await self.session.execute(text(_ENDS), {"subjects": subjects})
        return {row.subject: (row.seq, row.hash) for row in rows}

    async def _write(self, chains: Sequence[Chain]) -> None:
        entries = [
            {
                "subject": entry.access.subject,
                "seq": entry.seq,
                "at": entry.at,
                "agency_code": entry.access.agency_code,
                "procedure_code": entry.access.procedure_code,
                "dossier_code": entry.access.dossier_code,
                "consent_id": entry.access.consent_id,
                "fields": sorted(entry.access.fields),
                "outcome": entry.access.outcome,
                "reason": entry.access.reason,
                "prev_hash": entry.prev_hash,
                "hash": entry.hash,
                "key_id": entry.key_id,
            }
            for chain in chains
            for entry in chain.appended
        ]
        pending_writes(self.session).insert(access_log, entries)  # with the heads, at the commit
        _set_heads(self.session, self.key, chains)


def _set_heads(session: AsyncSession, key: ChainKey, chains: Sequence[Chain]) -> None:
    heads = (
        {"subject": c.subject, "seq": c.seq, "hash": c.last_hash, "key_id": key.id, "mac": c.head_mac(key)}
        for c in chains
    )
    pending_writes(session).upsert(access_log_heads, heads, ["subject"])


async def seal_unkeyed_chains(db: Database, key: ChainKey, batch: int = 100) -> int:
    """Give a keyed head to every chain that has none (chains written before the log was keyed), so their
    end is protected from now on; how many were sealed. Run at start-up; one transaction per batch, as
    the chains are locked while they are sealed."""
    sealed = 0
    while True:
        async with db.transaction() as session:
            unsealed = sorted(
                (
                    await session.scalars(
                        select(access_log.c.subject)
                        .where(~access_log.c.subject.in_(select(access_log_heads.c.subject)))
                        .group_by(access_log.c.subject)
                        .limit(batch)
                    )
                ).all()
            )
            if not unsealed:
                return sealed
            await session.execute(text(_LOCK), {"subjects": unsealed})
            # Another replica may have sealed some, or an append given them a head, meanwhile.
            headed = await session.scalars(
                select(access_log_heads.c.subject).where(access_log_heads.c.subject.in_(unsealed))
            )
            ends = await session.execute(text(_ENDS), {"subjects": sorted(set(unsealed) - set(headed))})
            chains = [Chain(row.subject, row.seq, row.hash) for row in ends]
            if chains:
                _set_heads(session, key, chains)
            sealed += len(chains)


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
