"""Dossiers in PostgreSQL: read for a run of events at once, the new and the closed ones written at once."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.tables import dossiers
from dossierbus_registry.domain.dossiers import Dossier
from dossierbus_shared.db.rows import update_rows
from dossierbus_shared.db.writes import pending_writes


class DossierRepository(ABC):
    def __init__(self) -> None:
        self._seen: dict[str, Dossier | None] = {}
        self._as_read: dict[str, Dossier] = {}
        self._added: dict[str, Dossier] = {}

    async def load(self, codes: Iterable[str]) -> None:
        """Read these dossiers with one query (those not read yet)."""
        wanted = [code for code in dict.fromkeys(codes) if code not in self._seen]
        if not wanted:
            return
        found = await self._read(wanted)
        for code in wanted:
            dossier = self._seen[code] = found.get(code)
            if dossier is not None:
                self._as_read[code] = dataclasses.replace(dossier)

    async def get(self, code: str) -> Dossier | None:
        await self.load([code])
        return self._seen[code]

    def add(self, dossier: Dossier) -> None:
        """A dossier new to the registry; one it holds already under that code is kept as it is."""
        if self._seen.get(dossier.code) is None:
            self._seen[dossier.code] = self._added[dossier.code] = dossier

    async def flush(self) -> None:
        """Write the added dossiers, then the closing of those read."""
        changed = [
            dossier
            for code, dossier in self._seen.items()
            if dossier is not None and code in self._as_read and dossier != self._as_read[code]
        ]
        if self._added:
            await self._insert(list(self._added.values()))
        if changed:
            await self._close(changed)
        self._added.clear()
        self._as_read = {code: dataclasses.replace(dossier) for code, dossier in self._as_read.items()}

    @abstractmethod
    async def _read(self, codes: Sequence[str]) -> dict[str, Dossier]: ...

    @abstractmethod
    async def _insert(self, new: Sequence[Dossier]) -> None:
        """Insert, keeping a dossier already there under the same code."""

    @abstractmethod
    async def _close(self, closed: Sequence[Dossier]) -> None:
        """Set the closing time of dossiers not closed yet."""


class SqlDossierRepository(DossierRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self.session = session

    async def _read(self, codes: Sequence[str]) -> dict[str, Dossier]:
        rows = await self.session.execute(select(dossiers).where(dossiers.c.code.in_(codes)))
        return {row.code: Dossier(**row._mapping) for row in rows}

    async def _insert(self, new: Sequence[Dossier]) -> None:
        # With the transaction's other writes, at its commit.
        pending_writes(self.session).insert_new(dossiers, (dataclasses.asdict(dossier) for dossier in new))

    async def _close(self, closed: Sequence[Dossier]) -> None:
        rows = [{"code": dossier.code, "closed_at": dossier.closed_at} for dossier in closed]
        await update_rows(self.session, dossiers, rows, "code", where=dossiers.c.closed_at.is_(None))
