"""The national databases behind one interface: the reference copy in PostgreSQL, or (in production)
a national API gateway over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Table

from dossierbus_registry.adapters.tables import citizens, enterprises
from dossierbus_registry.domain import Citizen, Enterprise
from dossierbus_shared.db import Database


class NationalDatabaseUnavailable(Exception):
    """The national database could not answer (down, timing out, refusing): retry later.

    Distinct from "not found", which is an answer (None)."""


class NationalDatabases(Protocol):
    """Population (by 12-digit personal ID) and business registration (by tax code, 10 or 13 digits
    without the dash) lookups. None means the database answered that it holds no such record; an
    outage raises NationalDatabaseUnavailable."""

    async def citizen(self, personal_id: str) -> Citizen | None: ...

    async def enterprise(self, tax_code: str) -> Enterprise | None: ...


class ReferenceNationalDatabases:
    """The reference national databases, kept in the registry's own schema (demo, tests, benchmarks)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def citizen(self, personal_id: str) -> Citizen | None:
        row = await self._first(_CITIZEN, personal_id)
        return Citizen(**row) if row else None

    async def enterprise(self, tax_code: str) -> Enterprise | None:
        row = await self._first(_ENTERPRISE, tax_code)
        return Enterprise(**row) if row else None

    async def _first(self, query: str, key: str) -> dict[str, Any] | None:
        # The hot path of every lookup: one prepared SELECT by primary key on the driver connection,
        # outside any transaction, without SQLAlchemy's statement and result layers (a third of the
        # CPU per lookup).
        async with self.db.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            pg: asyncpg.Connection = raw.driver_connection
            row = await pg.fetchrow(query, key)
        return dict(row) if row else None


def _by_key(table: Table) -> str:
    (key,) = table.primary_key.columns
    return (
        f"SELECT {', '.join(column.name for column in table.columns)} FROM {table.name} WHERE {key.name} = $1"
    )


_CITIZEN = _by_key(citizens)
_ENTERPRISE = _by_key(enterprises)


async def copy_rows(db: Database, table: Table, batches: Iterable[Sequence[tuple[Any, ...]]]) -> int:
    """Bulk-load rows (in table column order) with PostgreSQL COPY; rows already present are kept.

    Into an empty table the rows go straight in; otherwise they are staged in a temporary table and
    merged with ON CONFLICT DO NOTHING, so seeding twice is harmless. Returns the rows added.
    """
    columns = [column.name for column in table.columns]
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        pg: asyncpg.Connection = raw.driver_connection
        async with pg.transaction():
            # Serialise concurrent loaders (two registry processes starting at once) on the table.
            await pg.execute(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE")
            empty = not await pg.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table.name})")
            target = table.name if empty else f"staging_{table.name}"
            if not empty:
                await pg.execute(f"CREATE TEMP TABLE {target} (LIKE {table.name}) ON COMMIT DROP")
            copied = 0

            async def streamed() -> AsyncIterator[tuple[Any, ...]]:
                # One COPY for all batches: PostgreSQL stores a batch while the next is generated.
                nonlocal copied
                for batch in batches:
                    copied += len(batch)
                    for row in batch:
                        yield row

            await pg.copy_records_to_table(target, records=streamed(), columns=columns)
            if empty:
                return copied
            status = await pg.execute(
                f"INSERT INTO {table.name} SELECT * FROM {target} ON CONFLICT DO NOTHING"
            )
            return int(status.split()[-1])
