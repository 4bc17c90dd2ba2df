"""Step assignments in PostgreSQL: the changes of a run of events written with one statement each."""

from __future__ import annotations

from abc import ABC, abstractmethod

from sqlalchemy import delete, exists, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.tables import assignments
from dossierbus_registry.domain.assignments import Assignment, AssignmentChanges, Step
from dossierbus_shared.db.writes import pending_writes


class AssignmentRepository(ABC):
    def __init__(self) -> None:
        self.changes = AssignmentChanges()

    def assign(self, assignment: Assignment) -> None:
        self.changes.assign(assignment)

    def cancel(self, step: Step) -> None:
        self.changes.cancel(step)

    def forget(self, dossier_code: str) -> None:
        self.changes.forget(dossier_code)

    async def flush(self) -> None:
        if self.changes:
            await self._write(self.changes)
            self.changes = AssignmentChanges()

    @abstractmethod
    async def holds_step(self, dossier_code: str, agency_code: str) -> bool:
        """Whether the agency holds a step of the dossier (as written: not the changes not flushed yet)."""

    @abstractmethod
    async def _write(self, changes: AssignmentChanges) -> None: ...


class SqlAssignmentRepository(AssignmentRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self.session = session

    async def holds_step(self, dossier_code: str, agency_code: str) -> bool:
        query = select(
            exists().where(
                assignments.c.dossier_code == dossier_code, assignments.c.agency_code == agency_code
            )
        )
        return bool(await self.session.scalar(query))

    async def _write(self, changes: AssignmentChanges) -> None:
        if changes.forgotten:
            await self.session.execute(
                delete(assignments).where(assignments.c.dossier_code.in_(sorted(changes.forgotten)))
            )
        if changes.cancelled:
            key = tuple_(assignments.c.dossier_code, assignments.c.agency_code, assignments.c.step)
            steps = [(step.dossier_code, step.agency_code, step.step) for step in changes.cancelled]
            await self.session.execute(delete(assignments).where(key.in_(sorted(steps))))
        if changes.assigned:
            rows = [
                {
                    "dossier_code": assignment.step.dossier_code,
                    "agency_code": assignment.step.agency_code,
                    "step": assignment.step.step,
                    "procedure_code": assignment.procedure_code,
                    "assigned_at": assignment.assigned_at,
                }
                for assignment in changes.assigned.values()
            ]
            pending_writes(self.session).insert_new(assignments, rows)  # after the deletes, at the commit
