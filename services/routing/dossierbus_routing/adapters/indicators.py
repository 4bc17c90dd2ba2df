"""Where the Decision 766 projection is kept: its records for a batch loaded (and locked) in one query and
the changed ones saved in one statement, ratings written once; and the counts per agency and procedure
read back from it."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_routing.adapters.tables import indicator_dossiers, indicator_ratings
from dossierbus_routing.domain.indicator_record import IndicatorRecord
from dossierbus_routing.domain.indicators import DISLIKE_AT_MOST, Counts, judged_as_of
from dossierbus_shared.calendar import WorkingCalendar
from dossierbus_shared.db.writes import pending_writes
from dossierbus_shared.events import Channel, DossierRated


class IndicatorRepository(ABC):
    def __init__(self) -> None:
        self.seen: dict[UUID, IndicatorRecord] = {}
        self.ratings: dict[UUID, DossierRated] = {}
        """Ratings to record; a dossier's first rating is the one that counts."""
        self._absent: set[UUID] = set()

    async def load(self, ids: Iterable[UUID]) -> None:
        wanted = set(ids) - self.seen.keys() - self._absent
        if not wanted:
            return
        for record in await self._fetch(sorted(wanted)):
            self.seen[record.dossier_id] = record
        self._absent |= wanted - self.seen.keys()

    async def get(self, dossier_id: UUID) -> IndicatorRecord | None:
        await self.load([dossier_id])
        return self.seen.get(dossier_id)

    def add(self, record: IndicatorRecord) -> None:
        self.seen[record.dossier_id] = record
        self._absent.discard(record.dossier_id)

    def rate(self, rated: DossierRated) -> None:
        self.ratings.setdefault(rated.dossier_id, rated)

    @abstractmethod
    async def save(self) -> None:
        """Write the seen records that changed and the ratings."""

    @abstractmethod
    async def _fetch(self, ids: Sequence[UUID]) -> list[IndicatorRecord]: ...


class PostgresIndicatorRepository(IndicatorRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self.session = session
        self._stored: dict[UUID, IndicatorRecord] = {}

    async def _fetch(self, ids: Sequence[UUID]) -> list[IndicatorRecord]:
        query = (
            select(indicator_dossiers)
            .where(indicator_dossiers.c.dossier_id.in_(ids))
            .order_by(indicator_dossiers.c.dossier_id)
            .with_for_update()
        )
        records = [IndicatorRecord(**row) for row in (await self.session.execute(query)).mappings()]
        self._stored |= {record.dossier_id: dataclasses.replace(record) for record in records}
        return records

    async def save(self) -> None:
        changed = [
            dict(vars(record))  # its fields are values: no deep copy (dataclasses.asdict) needed
            for record in self.seen.values()
            if record != self._stored.get(record.dossier_id)
        ]
        self._stored |= {id: dataclasses.replace(record) for id, record in self.seen.items()}
        writes = pending_writes(self.session)  # sent with the transaction's other writes, at its commit
        writes.upsert(indicator_dossiers, changed, ["dossier_id"])
        writes.insert_new(
            indicator_ratings,
            (
                {"dossier_id": rated.dossier_id, "score": rated.score, "rated_at": rated.rated_at}
                for rated in self.ratings.values()
            ),
        )
        self.ratings = {}


class InMemoryIndicatorRepository(IndicatorRepository):
    """The fake: records and ratings in dicts shared by the units of work of a test."""

    def __init__(self, stored: dict[UUID, IndicatorRecord], ratings: dict[UUID, DossierRated]) -> None:
        super().__init__()
        self.stored = stored
        self.stored_ratings = ratings

    async def _fetch(self, ids: Sequence[UUID]) -> list[IndicatorRecord]:
        return [dataclasses.replace(self.stored[id]) for id in ids if id in self.stored]

    async def save(self) -> None:
        self.stored.update((id, dataclasses.replace(record)) for id, record in self.seen.items())
        for id, rated in self.ratings.items():
            self.stored_ratings.setdefault(id, rated)
        self.ratings = {}


async def counts(
    session: AsyncSession,
    calendar: WorkingCalendar,
    *,
    today: date,
    agency: str | None = None,
    procedure: str | None = None,
    received_from: date | None = None,
    received_to: date | None = None,
) -> list[Counts]:
    """Counts per agency and procedure of the dossiers received in the period (local dates, inclusive),
    their state at the end of the day they are judged on: the period's last day for a past period, else
    `today` (`judged_as_of`). A dossier that ended after that day counts as unfinished then."""
    d, r = indicator_dossiers, indicator_ratings
    as_of = judged_as_of(today, received_to)
    end_of_day = datetime.combine(as_of + timedelta(days=1), time(0), calendar.timezone)
    ended = and_(d.c.ended_at.is_not(None), d.c.ended_at < end_of_day)
    unfinished = ~ended

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.count().filter(condition)

    query = (
        select(
            d.c.agency_code,
            d.c.procedure_code,
            func.count().label("received"),
            count(d.c.channel == Channel.ONLINE.value).label("online"),
            count(d.c.population_data_used).label("population_data_used"),
            count(ended).label("processed"),
            count(and_(ended, d.c.on_time.is_(True))).label("on_time"),
            count(and_(ended, d.c.on_time.is_(False))).label("late"),
            count(unfinished).label("in_progress"),
            count(and_(unfinished, d.c.overdue_from <= as_of)).label("overdue_in_progress"),
            count(d.c.has_result).label("with_result"),
            count(and_(d.c.has_result, d.c.result_digitised)).label("digitised_results"),
            count(and_(d.c.has_result, d.c.result_digitised, d.c.form_digitised)).label(
                "digitised_end_to_end"
            ),
            func.count(r.c.score).label("ratings"),
            func.coalesce(func.sum(r.c.score), 0).label("rating_sum"),
            count(r.c.score <= DISLIKE_AT_MOST).label("dislikes"),
            count(d.c.fee_required).label("fee_required"),
            count(and_(d.c.fee_required, d.c.paid_online)).label("paid_online"),
        )
        .select_from(d.outerjoin(r, r.c.dossier_id == d.c.dossier_id))
        .group_by(d.c.agency_code, d.c.procedure_code)
        .order_by(d.c.agency_code, d.c.procedure_code)
    )
    if agency:
        query = query.where(d.c.agency_code == agency)
    if procedure:
        query = query.where(d.c.procedure_code == procedure)
    if received_from:
        query = query.where(d.c.received_on >= received_from)
    if received_to:
        query = query.where(d.c.received_on <= received_to)
    rows: Any = (await session.execute(query)).all()
    return [Counts(**row._asdict()) for row in rows]
