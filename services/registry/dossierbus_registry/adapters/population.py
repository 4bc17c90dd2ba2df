"""The national databases behind one interface: the reference copy in PostgreSQL, or (in production)
a national API gateway over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Table

from dossierbus_registry.adapters.tables import citizens, enterprises
from dossierbus_registry.domain.national import Citizen, Enterprise
from dossierbus_shared.db import Database


class NationalDatabaseUnavailable(Exception):
    """The national database could not answer (down, timing out, refusing): retry later.

    Distinct from "not found", which is an answer (None)."""


class NationalDatabases(Protocol):
    """Population (by 12-digit personal ID) and business registration (by tax code, 10 or 13 digits
    without the dash) lookups, one record or many at once. A record the database does not hold is
    absent from the answer (None for one); an outage raises NationalDatabaseUnavailable."""

    async def citizens(self, personal_ids: Sequence[str]) -> dict[str, Citizen]: ...

    async def enterprises(self, tax_codes: Sequence[str]) -> dict[str, Enterprise]: ...

    async def citizen(self, personal_id: str) -> Citizen | None: ...

    async def enterprise(self, tax_code: str) -> Enterprise | None: ...


class ReferenceNationalDatabases:
    """The reference national databases, kept in the registry's own schema (demo, tests, benchmarks)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def citizens(self, personal_ids: Sequence[str]) -> dict[str, Citizen]:
        rows = await self._fetch(_CITIZENS, personal_ids)
        return {row["personal_id"]: Citizen(**row) for row in rows}

    async def enterprises(self, tax_codes: Sequence[str]) -> dict[str, Enterprise]:
        rows = await self._fetch(_ENTERPRISES, tax_codes)
        return {row["tax_code"]: Enterprise(**row) for row in rows}

    async def citizen(self, personal_id: str) -> Citizen | None:
        return (await self.citizens([personal_id])).get(personal_id)

    async def enterprise(self, tax_code: str) -> Enterprise | None:
        return (await self.enterprises([tax_code])).get(tax_code)

    async def _fetch(self, query: str, keys: Sequence[str]) -> list[dict[str, Any]]:
        # The hot path of every lookup: one prepared SELECT by primary keys on the driver connection,
        # outside any transaction, without SQLAlchemy's statement and result layers (a third of the
        # CPU per lookup).
        if not keys:
            return []
        async with self.db.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            pg: asyncpg.Connection = raw.driver_connection
            rows = await pg.fetch(query, list(keys))
        return [dict(row) for row in rows]


def _by_keys(table: Table) -> str:
    (key,) = table.primary_key.columns
    columns = ", ".join(column.name for column in table.columns)
    return f"SELECT {columns} FROM {table.name} WHERE {key.name} = ANY($1::text[])"


_CITIZENS = _by_keys(citizens)
_ENTERPRISES = _by_keys(enterprises)


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
