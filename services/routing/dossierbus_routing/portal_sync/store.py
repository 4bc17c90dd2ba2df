"""Where the changes for the portal are kept: the `portal_sync` table, written in the transaction of the
dossier change that causes them (in the statement that writes the unit of work's other changes),
claimed by the relay with FOR UPDATE SKIP LOCKED and marked with the outcome of each attempt.

`PostgresSyncStore` is the real one; `InMemorySyncStore` the fake, with the same claiming rule, for unit
tests.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    Uuid,
    and_,
    exists,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_routing.adapters.tables import metadata
from dossierbus_routing.portal_sync.changes import PortalChange
from dossierbus_routing.portal_sync.decisions import Decision, Refused, Retry, Sent
from dossierbus_shared.db import Database, after_commit
from dossierbus_shared.db.rows import update_rows
from dossierbus_shared.db.writes import pending_writes

PENDING, SENT, FAILED, NOT_SENT = "pending", "sent", "failed", "not_sent"
"""A change's state: waiting to be sent (or resent), taken by the portal, refused by it for good, or never
for the portal (its status has no national code)."""

portal_sync = Table(
    "portal_sync",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),  # the order changes happened in
    Column("idempotency_key", Uuid, nullable=False, unique=True),
    Column("dossier_id", Uuid, nullable=False),
    Column("dossier_code", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("previous_status", Text),
    Column("national_status", SmallInteger),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSONB),  # exactly what is sent, on every attempt
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_portal_sync_dossier", "dossier_id", "id"),
    Index("ix_portal_sync_pending", "next_attempt_at", "id", postgresql_where=text("state = 'pending'")),
    Index("ix_portal_sync_failed", "id", postgresql_where=text("state = 'failed'")),
)


def staged_row(change: PortalChange) -> dict[str, Any]:
    return {
        "idempotency_key": change.idempotency_key,
        "dossier_id": change.dossier_id,
        "dossier_code": change.dossier_code,
        "status": change.status,
        "previous_status": change.previous_status,
        "national_status": int(change.national_status) if change.national_status is not None else None,
        "changed_at": change.changed_at,
        "payload": change.payload,
        "state": PENDING if change.sent else NOT_SENT,
        "attempts": 0,
        "last_error": change.not_sent_reason,
        "next_attempt_at": change.changed_at if change.sent else None,
        "sent_at": None,
    }


# --- staging, in the unit of work -----------------------------------------------------------------------


class SyncStaging(ABC):
    """The changes of one unit of work, written once when it flushes."""

    def __init__(self) -> None:
        self.staged: list[PortalChange] = []

    def add(self, changes: Sequence[PortalChange]) -> None:
        self.staged += changes

    async def save(self) -> None:
        if self.staged:
            await self._write([staged_row(change) for change in self.staged])
        self.staged = []

    @abstractmethod
    async def _write(self, rows: list[dict[str, Any]]) -> None: ...


class PostgresStaging(SyncStaging):
    def __init__(self, session: AsyncSession, committed: Callable[[], None] = lambda: None) -> None:
        """`committed` is called once the changes are committed (it wakes this process's relay)."""
        super().__init__()
        self.session = session
        self.committed = committed

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        # With the transaction's other writes, at its commit; in order: ids follow the changes.
        pending_writes(self.session).insert(portal_sync, rows)
        after_commit(self.session, self.committed)


class InMemoryStaging(SyncStaging):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self.rows = rows

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.rows.append(
                {**row, "id": len(self.rows) + 1, "created_at": row["changed_at"], "updated_at": None}
            )


# --- the relay's side -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A change claimed for sending."""

    id: int
    idempotency_key: UUID
    dossier_code: str
    payload: dict[str, Any]
    attempts: int
    """Attempts before this one."""


@dataclass(frozen=True)
class Outcome:
    change: Claimed
    decision: Decision


class RelayStore(ABC):
    """One transaction of the relay: due changes claimed, then their outcomes written."""

    @abstractmethod
    async def claim(self, limit: int, now: datetime) -> list[Claimed]:
        """Up to `limit` pending changes due by `now`, each the earliest pending change of its dossier
        (a later one waits until the earlier is sent or refused), locked and skipped when another relay
        holds them; in the order they happened."""

    @abstractmethod
    async def record(self, outcomes: Sequence[Outcome], now: datetime) -> None: ...


RelayTransaction = Callable[[], AbstractAsyncContextManager[RelayStore]]


def outcome_values(outcome: Outcome) -> dict[str, Any]:
    decision = outcome.decision
    values: dict[str, Any] = {"attempts": outcome.change.attempts + 1}
    if isinstance(decision, Sent):
        values |= {"state": SENT, "sent_at": decision.at, "next_attempt_at": None, "last_error": None}
    elif isinstance(decision, Retry):
        values |= {"state": PENDING, "next_attempt_at": decision.at, "last_error": decision.error}
    elif isinstance(decision, Refused):
        values |= {"state": FAILED, "next_attempt_at": None, "last_error": decision.error}
    return values


class PostgresSyncStore(RelayStore):
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, limit: int, now: datetime) -> list[Claimed]:
        earlier = portal_sync.alias("earlier")
        waits_behind = exists().where(
            and_(
                earlier.c.dossier_id == portal_sync.c.dossier_id,
                earlier.c.state == PENDING,
                earlier.c.id < portal_sync.c.id,
            )
        )
        query = (
            select(
                portal_sync.c.id,
                portal_sync.c.idempotency_key,
                portal_sync.c.dossier_code,
                portal_sync.c.payload,
                portal_sync.c.attempts,
            )
            .where(portal_sync.c.state == PENDING, portal_sync.c.next_attempt_at <= now, ~waits_behind)
            .order_by(portal_sync.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=portal_sync)
        )
        rows = (await self.session.execute(query)).all()
        return [
            Claimed(row.id, row.idempotency_key, row.dossier_code, row.payload, row.attempts) for row in rows
        ]

    async def record(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        if not outcomes:
            return
        # One statement for the batch: every column set on every row (None where it is cleared).
        columns = ("state", "attempts", "sent_at", "next_attempt_at", "last_error")
        rows = []
        for outcome in outcomes:
            values = {"sent_at": None} | outcome_values(outcome)
            rows.append({"id": outcome.change.id, **{name: values[name] for name in columns}})
        await update_rows(self.session, portal_sync, rows, "id", also={"updated_at": now})


def postgres_relay_transaction(db: Database) -> RelayTransaction:
    @asynccontextmanager
    async def transaction() -> AsyncIterator[RelayStore]:
        async with db.transaction() as session:
            yield PostgresSyncStore(session)

    return transaction


@dataclass
class InMemorySyncStore(RelayStore):
    """The fake: rows in a list (as `InMemoryStaging` writes them); nothing is held between relays, so
    it models one relay at a time."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    async def claim(self, limit: int, now: datetime) -> list[Claimed]:
        first_pending: dict[UUID, int] = {}
        for row in self.rows:
            if row["state"] == PENDING:
                first_pending.setdefault(row["dossier_id"], row["id"])
        due = [
            row
            for row in self.rows
            if row["state"] == PENDING
            and row["next_attempt_at"] <= now
            and first_pending[row["dossier_id"]] == row["id"]
        ]
        return [
            Claimed(
                row["id"],
                row["idempotency_key"],
                row["dossier_code"],
                copy.deepcopy(row["payload"]),
                row["attempts"],
            )
            for row in sorted(due, key=lambda row: row["id"])[:limit]
        ]

    async def record(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        by_id = {row["id"]: row for row in self.rows}
        for outcome in outcomes:
            by_id[outcome.change.id].update(outcome_values(outcome), updated_at=now)

    def transaction(self) -> AbstractAsyncContextManager[RelayStore]:
        @asynccontextmanager
        async def opened() -> AsyncIterator[RelayStore]:
            yield self

        return opened()
