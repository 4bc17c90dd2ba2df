"""The Decision 766 projection: kept up to date from the events every dossier goes through, read back as
counts per agency and procedure.

It is fed by what the bus publishes, not by routing's internal state: `dossier.verified` (channel, due
date, whether national population data was used), routing's own `dossier.status-changed` (end of
processing, supplements, results) and `dossier.rated` (satisfaction). Each handler runs in the consumer's
transaction together with the inbox record, so a redelivered event is never counted twice.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_routing.adapters.tables import indicator_dossiers, indicator_ratings
from dossierbus_routing.domain.indicators import (
    DISLIKE_AT_MOST,
    RESULT_STATUSES,
    Counts,
    finished_on_time,
    judged_as_of,
    overdue_from,
    supersedes_end,
)
from dossierbus_shared.calendar import WorkingCalendar
from dossierbus_shared.catalogue import Catalogue
from dossierbus_shared.consumer import PermanentError
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Channel,
    DossierRated,
    DossierStatus,
    DossierStatusChanged,
    DossierVerified,
)
from dossierbus_shared.unit_of_work import UnitOfWork

UNATTRIBUTED = "-"
"""Agency of a dossier whose procedure is not in the catalogue (intake refuses those; kept for safety)."""


class IndicatorProjection:
    def __init__(self, catalogue: Catalogue, calendar: WorkingCalendar) -> None:
        self.catalogue = catalogue
        self.calendar = calendar

    def today(self) -> date:
        """The local date against which unfinished dossiers are judged overdue."""
        return datetime.now(self.calendar.timezone).date()

    async def on_verified(self, work: UnitOfWork, envelope: Envelope[DossierVerified]) -> None:
        session = work.session
        verified = envelope.data
        procedure = self.catalogue.procedure(verified.procedure_code)
        # A dossier counts for the agency that handles its procedure's first step, however many agencies
        # take part. Until that agency reports, the catalogue's agency for the step stands in.
        agency = procedure.steps[0].agency if procedure else UNATTRIBUTED
        uses_population = bool(
            procedure and "population" in procedure.national_facts and verified.national_facts
        )
        received_on = verified.submitted_at.astimezone(self.calendar.timezone).date()
        await session.execute(
            insert(indicator_dossiers)
            .values(
                dossier_id=verified.dossier_id,
                agency_code=agency,
                procedure_code=verified.procedure_code,
                channel=verified.channel.value,
                received_on=received_on,
                due_date=verified.due_date,
                form_digitised=bool(verified.form),
                population_data_used=uses_population,
                status=DossierStatus.RECEIVED.value,
                supplement_requests=0,
                overdue_from=overdue_from(verified.due_date, 0, received_on),
                has_result=False,
                result_digitised=False,
            )
            .on_conflict_do_nothing()
        )

    async def on_status_changed(self, work: UnitOfWork, envelope: Envelope[DossierStatusChanged]) -> None:
        session = work.session
        changed = envelope.data
        row = (
            await session.execute(
                select(indicator_dossiers)
                .where(indicator_dossiers.c.dossier_id == changed.dossier_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            # Routing publishes a status change only after the verification that created this row commits.
            raise PermanentError(
                f"status change for dossier {changed.dossier_code} that routing never verified"
            )
        supplements = row.supplement_requests + (changed.status is DossierStatus.SUPPLEMENT_REQUESTED)
        changed_on = changed.changed_at.astimezone(self.calendar.timezone).date()
        values: dict[str, object] = {
            "status": changed.status.value,
            "due_date": changed.due_date,
            "supplement_requests": supplements,
            "overdue_from": overdue_from(
                changed.due_date,
                supplements,
                changed_on,
                paused=changed.status is DossierStatus.SUPPLEMENT_REQUESTED,
            ),
            "has_result": row.has_result or changed.status in RESULT_STATUSES,
            "result_digitised": row.result_digitised or bool(changed.result_documents),
        }
        if changed.agency_code and changed.step == self._first_step(changed.procedure_code):
            # The agency actually assigned (it may be an onboarded one rather than the catalogue's).
            values["agency_code"] = changed.agency_code
        ended = DossierStatus(row.ended_status) if row.ended_status else None
        if supersedes_end(ended, changed.status):
            values |= {
                "ended_status": changed.status.value,
                "ended_at": changed.changed_at,
                "on_time": finished_on_time(
                    changed.changed_at, changed.due_date, supplements, self.calendar.timezone
                ),
            }
        await session.execute(
            indicator_dossiers.update()
            .where(indicator_dossiers.c.dossier_id == changed.dossier_id)
            .values(**values)
        )

    def _first_step(self, procedure_code: str) -> str | None:
        procedure = self.catalogue.procedure(procedure_code)
        return procedure.steps[0].id if procedure else None

    async def on_rated(self, work: UnitOfWork, envelope: Envelope[DossierRated]) -> None:
        session = work.session
        rated = envelope.data
        await session.execute(
            insert(indicator_ratings)
            .values(dossier_id=rated.dossier_id, score=rated.score, rated_at=rated.rated_at)
            .on_conflict_do_nothing()
        )

    async def counts(
        self,
        session: AsyncSession,
        *,
        today: date,
        agency: str | None = None,
        procedure: str | None = None,
        received_from: date | None = None,
        received_to: date | None = None,
    ) -> list[Counts]:
        """Counts per agency and procedure of the dossiers received in the period (local dates,
        inclusive), their state at the end of the day they are judged on: the period's last day for a
        past period, else `today` (`judged_as_of`). A dossier that ended after that day counts as
        unfinished then."""
        d, r = indicator_dossiers, indicator_ratings
        as_of = judged_as_of(today, received_to)
        end_of_day = datetime.combine(as_of + timedelta(days=1), time(0), self.calendar.timezone)
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
        return [Counts(**row._asdict()) for row in (await session.execute(query)).all()]
