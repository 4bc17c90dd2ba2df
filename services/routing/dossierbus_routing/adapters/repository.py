"""Where dossiers are kept: a batch's dossiers are loaded (and locked) in one query, and the changed ones
saved with the transaction's other writes, in one statement at its commit.

`DossierRepository` keeps the dossiers a unit of work has seen, so each is loaded once whatever the number
of events about it; `PostgresDossierRepository` is the real one, `InMemoryDossierRepository` the fake for
unit tests.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import date
from itertools import groupby
from typing import Any
from uuid import UUID

from sqlalchemy import CTE, Select, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_routing.adapters.tables import dossiers, steps, timeline
from dossierbus_routing.domain import TRANSITIONS, Dossier, Step, StepStatus, TimelineEntry
from dossierbus_routing.domain.payment import Payment
from dossierbus_shared.db.writes import pending_writes
from dossierbus_shared.events import DossierStatus

Row = dict[str, Any]

# Paused dossiers are left out: their due date moves when the citizen's supplement arrives (and those held
# until their fees are paid, by `paused_since`).
WATCHED = sorted(
    status.value
    for status, following in TRANSITIONS.items()
    if following and status is not DossierStatus.SUPPLEMENT_REQUESTED
)


class DossierRepository(ABC):
    def __init__(self) -> None:
        self.seen: dict[UUID, Dossier] = {}
        """Every dossier loaded or added in this unit of work: the ones whose changes are saved."""
        self._absent: set[UUID] = set()

    async def load(self, ids: Iterable[UUID]) -> None:
        """Fetch and lock these dossiers at once (those not seen yet); unknown ids are remembered as such."""
        wanted = set(ids) - self.seen.keys() - self._absent
        if not wanted:
            return
        for dossier in await self._fetch(sorted(wanted)):
            self.seen[dossier.id] = dossier
        self._absent |= wanted - self.seen.keys()

    async def get(self, dossier_id: UUID) -> Dossier | None:
        await self.load([dossier_id])
        return self.seen.get(dossier_id)

    def add(self, dossier: Dossier) -> None:
        self.seen[dossier.id] = dossier
        self._absent.discard(dossier.id)

    async def by_code(self, code: str) -> Dossier | None:
        """The dossier with this code, locked."""
        dossier = await self._fetch_by_code(code)
        if dossier is None:
            return None
        return self.seen.setdefault(dossier.id, dossier)

    async def overdue_candidates(self, today: date, limit: int) -> list[Dossier]:
        """Up to `limit` dossiers that may be overdue on `today` and are not reported yet, earliest due
        first; each locked, and skipped when another transaction holds it (replicas scan together)."""
        found = await self._fetch_overdue_candidates(today, limit)
        return [self.seen.setdefault(dossier.id, dossier) for dossier in found]

    async def unsupplemented_candidates(self, today: date, limit: int) -> list[Dossier]:
        """Up to `limit` dossiers waiting for a supplement whose last day is before `today`; each locked,
        and skipped when another transaction holds it."""
        found = await self._fetch_unsupplemented_candidates(today, limit)
        return [self.seen.setdefault(dossier.id, dossier) for dossier in found]

    @abstractmethod
    async def save(self, entries: Sequence[tuple[UUID, TimelineEntry]]) -> None:
        """Write the seen dossiers that changed, and these timeline entries."""

    @abstractmethod
    async def _fetch(self, ids: Sequence[UUID]) -> list[Dossier]: ...

    @abstractmethod
    async def _fetch_by_code(self, code: str) -> Dossier | None: ...

    @abstractmethod
    async def _fetch_overdue_candidates(self, today: date, limit: int) -> list[Dossier]: ...

    @abstractmethod
    async def _fetch_unsupplemented_candidates(self, today: date, limit: int) -> list[Dossier]: ...


class PostgresDossierRepository(DossierRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self.session = session
        self._stored: dict[UUID, tuple[Row, list[Row]]] = {}
        """The rows of each dossier as loaded: only what differs from them is written."""

    async def _fetch(self, ids: Sequence[UUID]) -> list[Dossier]:
        return await self._dossiers_of(_BY_IDS, {"ids": ids})

    async def _fetch_by_code(self, code: str) -> Dossier | None:
        found = await self._dossiers_of(_BY_CODE, {"code": code})
        return found[0] if found else None

    async def _fetch_overdue_candidates(self, today: date, limit: int) -> list[Dossier]:
        claimed = (
            select(dossiers)
            .where(
                dossiers.c.overdue_at.is_(None),
                dossiers.c.due_date < today,
                dossiers.c.status.in_(WATCHED),
                dossiers.c.paused_since.is_(None),
            )
            .order_by(dossiers.c.due_date)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        found = await self._dossiers_of(_with_steps(claimed.cte("claimed")))
        return sorted(found, key=lambda dossier: dossier.due_date)

    async def _fetch_unsupplemented_candidates(self, today: date, limit: int) -> list[Dossier]:
        missed = (
            select(steps.c.dossier_id)
            .where(
                steps.c.dossier_id == dossiers.c.id,
                steps.c.status == StepStatus.SUPPLEMENT_REQUESTED.value,
                steps.c.supplement_due_date < today,
            )
            .correlate(dossiers)
        )
        claimed = (
            select(dossiers)
            .where(dossiers.c.status == DossierStatus.SUPPLEMENT_REQUESTED.value, exists(missed))
            .order_by(dossiers.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return await self._dossiers_of(_with_steps(claimed.cte("claimed")))

    async def _dossiers_of(
        self, query: Select[Any], parameters: dict[str, Any] | None = None
    ) -> list[Dossier]:
        """The dossiers a `_with_steps` query finds, with their steps."""
        rows = (await self.session.execute(query, parameters)).mappings().all()
        found = []
        for _, group in groupby(rows, key=lambda row: row["id"]):
            joined = list(group)
            dossier_row = {name: joined[0][name] for name in _DOSSIER_COLUMNS}
            step_rows = [{name: row[label] for name, label in _STEP_COLUMNS} for row in joined]
            dossier = _dossier(dossier_row, step_rows)
            # A copy of the rows as they are: the dossier's lists and dicts may change under it.
            self._stored[dossier.id] = copy.deepcopy((_dossier_row(dossier), _step_rows(dossier)))
            found.append(dossier)
        return found

    async def save(self, entries: Sequence[tuple[UUID, TimelineEntry]]) -> None:
        changed_dossiers: list[Row] = []
        changed_steps: list[Row] = []
        for dossier in self.seen.values():
            dossier_row, step_rows = _dossier_row(dossier), _step_rows(dossier)
            stored_dossier, stored_steps = self._stored.get(dossier.id, (None, []))
            if dossier_row != stored_dossier:
                changed_dossiers.append(dossier_row)
            changed_steps += [row for row in step_rows if row not in stored_steps]
            # Saved once per unit of work: no copy kept (one more save would write every row again).
            self._stored.pop(dossier.id, None)
        writes = pending_writes(self.session)  # sent with the transaction's other writes, at its commit
        writes.upsert(dossiers, changed_dossiers, ["id"])
        writes.upsert(steps, changed_steps, ["dossier_id", "step"])
        writes.insert(timeline, [_timeline_row(*entry) for entry in entries])


def _with_steps(claimed: CTE) -> Select[Any]:
    """The claimed dossiers with their steps, in one query: a row per step, its columns `step_<name>`."""
    return (
        select(claimed, *(steps.c[name].label(label) for name, label in _STEP_COLUMNS))
        .join(steps, steps.c.dossier_id == claimed.c.id)
        .order_by(claimed.c.id, steps.c.step)
    )


_DOSSIER_COLUMNS = [column.name for column in dossiers.c]
_STEP_COLUMNS = [(column.name, f"step_{column.name}") for column in steps.c]
# The two queries of every batch, built once (building them per batch cost more than a percent of
# routing's time). Locked in the order of their ids: two transactions wanting the same dossiers cannot
# deadlock.
_BY_IDS = _with_steps(
    select(dossiers)
    .where(dossiers.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(dossiers.c.id)
    .with_for_update()
    .cte("claimed")
)
_BY_CODE = _with_steps(
    select(dossiers).where(dossiers.c.code == bindparam("code")).with_for_update().cte("claimed")
)


class InMemoryDossierRepository(DossierRepository):
    """The fake: dossiers kept in a dict shared by the units of work of a test. Each unit of work works on
    copies and writes them back when it saves, so a unit of work that fails changes nothing."""

    def __init__(self, stored: dict[UUID, Dossier], timeline: list[tuple[UUID, TimelineEntry]]) -> None:
        super().__init__()
        self.stored = stored
        self.timeline = timeline

    async def _fetch(self, ids: Sequence[UUID]) -> list[Dossier]:
        return [copy.deepcopy(self.stored[id]) for id in ids if id in self.stored]

    async def _fetch_by_code(self, code: str) -> Dossier | None:
        found = [dossier for dossier in self.stored.values() if dossier.code == code]
        return copy.deepcopy(found[0]) if found else None

    async def _fetch_overdue_candidates(self, today: date, limit: int) -> list[Dossier]:
        candidates = [
            dossier
            for dossier in self.stored.values()
            if dossier.overdue_at is None
            and dossier.due_date < today
            and dossier.status.value in WATCHED
            and dossier.paused_since is None
        ]
        return [copy.deepcopy(dossier) for dossier in sorted(candidates, key=lambda d: d.due_date)[:limit]]

    async def _fetch_unsupplemented_candidates(self, today: date, limit: int) -> list[Dossier]:
        candidates = [
            dossier
            for dossier in self.stored.values()
            if dossier.status is DossierStatus.SUPPLEMENT_REQUESTED
            and any(
                step.status is StepStatus.SUPPLEMENT_REQUESTED
                and step.supplement_due_date is not None
                and step.supplement_due_date < today
                for step in dossier.steps.values()
            )
        ]
        return [copy.deepcopy(dossier) for dossier in sorted(candidates, key=lambda d: d.id)[:limit]]

    async def save(self, entries: Sequence[tuple[UUID, TimelineEntry]]) -> None:
        self.stored.update((id, copy.deepcopy(dossier)) for id, dossier in self.seen.items())
        self.timeline.extend(entries)


# --- rows <-> dossiers ------------------------------------------------------------------------------------


def _dossier(row: Row, step_rows: list[Row]) -> Dossier:
    return Dossier(
        id=row["id"],
        code=row["code"],
        procedure_code=row["procedure_code"],
        receiving_unit=row["receiving_unit"],
        status=DossierStatus(row["status"]),
        applicant_personal_id=row["applicant_personal_id"],
        handed_over=row["handed_over"],
        appointment_date=row["appointment_date"],
        due_date=row["due_date"],
        submitted_at=row["submitted_at"],
        updated_at=row["updated_at"],
        paused_since=row["paused_since"],
        paused_working_days=row["paused_working_days"],
        supplement_requests=row["supplement_requests"],
        overdue_at=row["overdue_at"],
        original_due_date=row["original_due_date"],
        extensions=row["extensions"],
        extended_working_days=row["extended_working_days"],
        rejection_reasons=row["rejection_reasons"],
        trace_context=row["trace_context"],
        payment=Payment.from_json(row["payment"]) if row["payment"] else None,
        steps={
            step["step"]: Step(
                id=step["step"],
                after=list(step["after"]),
                status=StepStatus(step["status"]),
                updated_at=step["updated_at"],
                agency=step["agency_code"],
                documents=list(step["result_documents"]),
                assigned_at=step["assigned_at"],
                supplement_due_date=step["supplement_due_date"],
            )
            for step in step_rows
        },
    )


def _dossier_row(dossier: Dossier) -> Row:
    return {
        "id": dossier.id,
        "code": dossier.code,
        "procedure_code": dossier.procedure_code,
        "receiving_unit": dossier.receiving_unit,
        "status": dossier.status.value,
        "applicant_personal_id": dossier.applicant_personal_id,
        "handed_over": dossier.handed_over,
        "appointment_date": dossier.appointment_date,
        "due_date": dossier.due_date,
        "paused_since": dossier.paused_since,
        "paused_working_days": dossier.paused_working_days,
        "supplement_requests": dossier.supplement_requests,
        "overdue_at": dossier.overdue_at,
        "original_due_date": dossier.original_due_date,
        "extensions": dossier.extensions,
        "extended_working_days": dossier.extended_working_days,
        "submitted_at": dossier.submitted_at,
        "updated_at": dossier.updated_at,
        "rejection_reasons": dossier.rejection_reasons,
        "trace_context": dossier.trace_context,
        "payment": dossier.payment.to_json() if dossier.payment else None,
    }


def _step_rows(dossier: Dossier) -> list[Row]:
    return [
        {
            "dossier_id": dossier.id,
            "step": step.id,
            "agency_code": step.agency,
            "after": step.after,
            "status": step.status.value,
            "result_documents": step.documents,
            "assigned_at": step.assigned_at,
            "updated_at": step.updated_at,
            "supplement_due_date": step.supplement_due_date,
        }
        for step in sorted(dossier.steps.values(), key=lambda step: step.id)
    ]


def _timeline_row(dossier_id: UUID, entry: TimelineEntry) -> Row:
    return {
        "dossier_id": dossier_id,
        "at": entry.at,
        "event": entry.event,
        "status": entry.status,
        "agency_code": entry.agency_code,
        "step": entry.step,
        "note": entry.note,
        "outcome": entry.outcome,
        "event_id": entry.event_id,
        "trace_id": entry.trace_id,
    }
