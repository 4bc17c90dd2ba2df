"""Giving, withdrawing and listing consents: the citizen's own acts (see domain/consents.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from dossierbus_registry.domain.access_log import ChainKey
from dossierbus_registry.domain.consents import CitizenAct, ConsentRecord
from dossierbus_registry.unit_of_work import UnitsOfWork
from dossierbus_shared.db import retry_dropped_connection


class UnknownConsent(Exception):
    pass


class Consents:
    def __init__(
        self,
        unit_of_work: UnitsOfWork,
        key: ChainKey,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.unit_of_work = unit_of_work
        self.key = key
        self.clock = clock

    async def give(
        self,
        act: CitizenAct,
        *,
        procedure_code: str,
        dossier_code: str | None,
        granted_via: str,
        recorded_by: str,
        expires_at: datetime | None,
    ) -> ConsentRecord:
        consent = ConsentRecord.given(
            act,
            self.key,
            procedure_code=procedure_code,
            dossier_code=dossier_code,
            granted_via=granted_via,
            recorded_by=recorded_by,
            expires_at=expires_at,
            now=self.clock(),
        )
        async with self.unit_of_work() as uow:
            await uow.consents.add(consent)
        return consent

    async def withdraw(self, consent_id: uuid.UUID, personal_id: str) -> ConsentRecord:
        """Withdraw one of this citizen's consents (idempotent: a second withdrawal keeps the first time).
        Another person's consent is as unknown as one that does not exist."""
        async with self.unit_of_work() as uow:
            consent = await uow.consents.withdraw(consent_id, personal_id, self.clock())
        if consent is None:
            raise UnknownConsent(str(consent_id))
        return consent

    async def of(self, personal_id: str) -> list[ConsentRecord]:
        async def read() -> list[ConsentRecord]:
            async with self.unit_of_work() as uow:
                return await uow.consents.of(personal_id)

        return await retry_dropped_connection(read)  # a read: once more on a connection left dead
