from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.tables import citizens
from dossierbus_registry.domain import Citizen


class PopulationDatabase(Protocol):
    async def find(self, session: AsyncSession, personal_id: str) -> Citizen | None: ...


class ReferencePopulationDatabase:
    """The reference population database kept in the registry's own schema."""

    async def find(self, session: AsyncSession, personal_id: str) -> Citizen | None:
        row = (await session.execute(select(citizens).where(citizens.c.personal_id == personal_id))).first()
        return Citizen(**row._mapping) if row else None

    async def load(self, session: AsyncSession, records: Iterable[Citizen], chunk: int = 5000) -> None:
        # Chunked: one statement may carry at most 32767 bind parameters.
        rows = [asdict(record) for record in records]
        for start in range(0, len(rows), chunk):
            await session.execute(
                insert(citizens).values(rows[start : start + chunk]).on_conflict_do_nothing()
            )
