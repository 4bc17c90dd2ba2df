"""Consent records in PostgreSQL: written once, withdrawn by setting a time, never deleted."""

from __future__ import annotations

import dataclasses
import uuid
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from sqlalchemy import Row, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.tables import consents
from dossierbus_registry.domain.consents import CITIZEN_EVIDENCE, ConsentRecord


class ConsentRepository(ABC):
    @abstractmethod
    async def add(self, consent: ConsentRecord) -> None: ...

    @abstractmethod
    async def get(self, consent_id: str) -> ConsentRecord | None:
        """The consent of that id (None too for an id that is no UUID)."""

    @abstractmethod
    async def live(
        self, personal_id: str, procedure_code: str, dossier_code: str | None, now: datetime
    ) -> ConsentRecord | None:
        """The person's latest consent in force for this procedure (and this dossier, or any), given by
        their own act."""

    @abstractmethod
    async def withdraw(self, consent_id: uuid.UUID, personal_id: str, at: datetime) -> ConsentRecord | None:
        """Withdraw one of the person's consents (a second withdrawal keeps the first time); None when
        they have none of that id."""

    @abstractmethod
    async def of(self, personal_id: str) -> list[ConsentRecord]:
        """The person's consents, withdrawn ones included, oldest first."""


class SqlConsentRepository(ConsentRepository):
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, consent: ConsentRecord) -> None:
        await self.session.execute(consents.insert().values(dataclasses.asdict(consent)))

    async def get(self, consent_id: str) -> ConsentRecord | None:
        try:
            key = uuid.UUID(consent_id)
        except ValueError:
            return None
        return _record((await self.session.execute(select(consents).where(consents.c.id == key))).first())

    async def live(
        self, personal_id: str, procedure_code: str, dossier_code: str | None, now: datetime
    ) -> ConsentRecord | None:
        any_dossier = consents.c.dossier_code.is_(None)
        dossier = (
            any_dossier if dossier_code is None else or_(any_dossier, consents.c.dossier_code == dossier_code)
        )
        query = (
            select(consents)
            .where(
                consents.c.personal_id == personal_id,
                consents.c.procedure_code == procedure_code,
                dossier,
                consents.c.evidence_kind == CITIZEN_EVIDENCE,
                consents.c.withdrawn_at.is_(None),
                or_(consents.c.expires_at.is_(None), consents.c.expires_at > now),
            )
            .order_by(consents.c.granted_at.desc())
            .limit(1)
        )
        return _record((await self.session.execute(query)).first())

    async def withdraw(self, consent_id: uuid.UUID, personal_id: str, at: datetime) -> ConsentRecord | None:
        mine = (consents.c.id == consent_id, consents.c.personal_id == personal_id)
        await self.session.execute(
            update(consents).where(*mine, consents.c.withdrawn_at.is_(None)).values(withdrawn_at=at)
        )
        return _record((await self.session.execute(select(consents).where(*mine))).first())

    async def of(self, personal_id: str) -> list[ConsentRecord]:
        query = select(consents).where(consents.c.personal_id == personal_id).order_by(consents.c.granted_at)
        return [ConsentRecord(**row._mapping) for row in await self.session.execute(query)]


def _record(row: Row[Any] | None) -> ConsentRecord | None:
    return ConsentRecord(**row._mapping) if row is not None else None
