"""The national databases behind one interface: the reference copy in PostgreSQL, or (in production)
a national API gateway over HTTP."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.tables import citizens, enterprises
from dossierbus_registry.domain import Citizen, Enterprise
from dossierbus_shared.db import Database


class NationalDatabases(Protocol):
    """Population (by 12-digit personal ID) and business registration (by tax code) lookups."""

    async def citizen(self, personal_id: str) -> Citizen | None: ...

    async def enterprise(self, tax_code: str) -> Enterprise | None: ...


class ReferenceNationalDatabases:
    """The reference national databases, kept in the registry's own schema (demo, tests, benchmarks)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def citizen(self, personal_id: str) -> Citizen | None:
        async with self.db.transaction() as session:
            row = (
                await session.execute(select(citizens).where(citizens.c.personal_id == personal_id))
            ).first()
        return Citizen(**row._mapping) if row else None

    async def enterprise(self, tax_code: str) -> Enterprise | None:
        async with self.db.transaction() as session:
            row = (
                await session.execute(select(enterprises).where(enterprises.c.tax_code == tax_code))
            ).first()
        return Enterprise(**row._mapping) if row else None

    async def load_citizens(
        self, session: AsyncSession, records: Iterable[Citizen], chunk: int = 5000
    ) -> None:
        await _load(session, citizens, [asdict(record) for record in records], chunk)

    async def load_enterprises(
        self, session: AsyncSession, records: Iterable[Enterprise], chunk: int = 5000
    ) -> None:
        await _load(session, enterprises, [asdict(record) for record in records], chunk)


async def _load(session: AsyncSession, table: object, rows: list[dict[str, object]], chunk: int) -> None:
    # Chunked: one statement may carry at most 32767 bind parameters.
    for start in range(0, len(rows), chunk):
        await session.execute(insert(table).values(rows[start : start + chunk]).on_conflict_do_nothing())  # type: ignore[arg-type]
