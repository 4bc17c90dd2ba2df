"""Where intake's dossiers are kept: PostgreSQL, one statement per table for whatever a unit of work
changed (a submission's outbox row goes with the transaction's pending writes at the commit), and one
query for everything a batch of events needs."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Select, Text, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from dossierbus_intake.adapters.tables import applicant_personal_id, daily_sequences, dossiers, ratings
from dossierbus_intake.domain.dossier import Dossier, Rating
from dossierbus_intake.domain.submission import SEQUENCE_DIGITS, Submission, dossier_code_prefix
from dossierbus_intake.tracking import tracking_digest
from dossierbus_shared.db.rows import update_rows


class KeyAlreadyUsed(Exception):
    """A dossier was kept before under this idempotency key. The statement that found it took a daily
    sequence number: its transaction must roll back, so that no number is skipped."""


class DossierRepository(Protocol):
    async def add(self, submission: Submission) -> str:
        """Keep the submission as a new dossier, numbered with its unit's next daily sequence; its code.
        KeyAlreadyUsed when its idempotency key was used before (also by a request still committing)."""
        ...

    async def load(self, ids: Collection[UUID]) -> None:
        """Fetch these dossiers at once, for `get`; those received by another intake are not here."""
        ...

    def get(self, dossier_id: UUID) -> Dossier | None:
        """A loaded dossier."""
        ...

    async def by_code(self, code: str, *, for_update: bool = False) -> Dossier | None:
        """`for_update`: lock it until the transaction ends (a rating decided on it)."""
        ...

    async def by_idempotency_key(self, key: str) -> Dossier | None: ...

    async def of_applicant(self, personal_id: str, limit: int) -> list[Dossier]:
        """The applicant's newest dossiers, newest first (for her own page)."""
        ...

    async def save(self) -> None:
        """Write what changed in the dossiers this repository handed out."""
        ...


class SqlDossierRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._seen: dict[UUID, tuple[Dossier, tuple[Any, ...]]] = {}
        """Each dossier handed out, with the state it was loaded in: `save` writes the difference."""

    async def add(self, submission: Submission) -> str:
        kept = (
            await self.session.execute(
                _ADD,
                {
                    "receiving_unit": submission.receiving_unit,
                    "day": submission.day,
                    "code_prefix": dossier_code_prefix(submission.receiving_unit, submission.day),
                    "dossier_id": submission.dossier_id,
                    "idempotency_key": submission.idempotency_key,
                    "request_fingerprint": submission.fingerprint,
                    "procedure_code": submission.procedure_code,
                    "channel": submission.channel.value,
                    "applicant": submission.applicant.model_dump(mode="json"),
                    "form": submission.form,
                    "submitted_at": submission.submitted_at,
                    "due_date": submission.deadline.due_date,
                    "tracking_secret_sha256": tracking_digest(submission.tracking_secret),
                },
            )
        ).scalar_one_or_none()
        if kept is None:
            raise KeyAlreadyUsed(submission.idempotency_key)
        return str(kept)

    async def load(self, ids: Collection[UUID]) -> None:
        wanted = [dossier_id for dossier_id in set(ids) if dossier_id not in self._seen]
        if wanted:
            # In id order, which `save` keeps: two batches updating the same dossiers lock them alike.
            query = _dossiers().where(dossiers.c.id.in_(wanted)).order_by(dossiers.c.id)
            for row in await self.session.execute(query):
                self._hand_out(row)

    def get(self, dossier_id: UUID) -> Dossier | None:
        seen = self._seen.get(dossier_id)
        return seen[0] if seen else None

    async def by_code(self, code: str, *, for_update: bool = False) -> Dossier | None:
        query = _dossiers().where(dossiers.c.code == code)
        if for_update:
            query = query.with_for_update(of=dossiers)
        return await self._one(query)

    async def by_idempotency_key(self, key: str) -> Dossier | None:
        return await self._one(_dossiers().where(dossiers.c.idempotency_key == key))

    async def of_applicant(self, personal_id: str, limit: int) -> list[Dossier]:
        # The applicant is kept as submitted (not pseudonymised): her token's personal ID is matched as the
        # other checks match it (Dossier.applicant_personal_id), on the expression the index is on.
        query = (
            _dossiers()
            .where(applicant_personal_id == personal_id)
            .order_by(dossiers.c.submitted_at.desc(), dossiers.c.code.desc())
            .limit(limit)
        )
        return [self._hand_out(row) for row in await self.session.execute(query)]

    async def save(self) -> None:
        progressed = [
            dossier
            for dossier, loaded in self._seen.values()
            if (dossier.status, dossier.finished_at) != loaded[:2]
        ]
        if progressed:
            await update_rows(
                self.session,
                dossiers,
                [{"id": d.id, "status": d.status, "finished_at": d.finished_at} for d in progressed],
                "id",
            )
        rated = [
            {"dossier_id": dossier.id, "score": dossier.rating.score, "rated_at": dossier.rating.rated_at}
            for dossier, loaded in self._seen.values()
            if dossier.rating is not None and loaded[2] is None
        ]
        if rated:
            await self.session.execute(insert(ratings), rated)
        for dossier_id, (dossier, _) in list(self._seen.items()):
            self._seen[dossier_id] = (dossier, _state(dossier))

    async def _one(self, query: Select[Any]) -> Dossier | None:
        row = (await self.session.execute(query)).first()
        return None if row is None else self._hand_out(row)

    def _hand_out(self, row: Any) -> Dossier:
        seen = self._seen.get(row.id)
        if seen is not None:  # one dossier is one object in a unit of work
            return seen[0]
        rating = Rating(row.code, row.score, row.rated_at) if row.score is not None else None
        dossier = Dossier(
            id=row.id,
            code=row.code,
            procedure_code=row.procedure_code,
            channel=row.channel,
            applicant_personal_id=row.applicant_personal_id,
            submitted_at=row.submitted_at,
            due_date=row.due_date,
            request_fingerprint=row.request_fingerprint,
            tracking_secret_sha256=row.tracking_secret_sha256,
            status=row.status,
            finished_at=row.finished_at,
            rating=rating,
        )
        self._seen[dossier.id] = (dossier, _state(dossier))
        return dossier


def _state(dossier: Dossier) -> tuple[Any, ...]:
    return (dossier.status, dossier.finished_at, dossier.rating)


def _dossiers() -> Select[Any]:
    """A dossier's columns but its form (the largest, which intake never reads again), and its rating."""
    return select(
        dossiers.c.id,
        dossiers.c.code,
        dossiers.c.procedure_code,
        dossiers.c.channel,
        dossiers.c.applicant["personal_id"].astext.label("applicant_personal_id"),
        dossiers.c.submitted_at,
        dossiers.c.due_date,
        dossiers.c.request_fingerprint,
        dossiers.c.tracking_secret_sha256,
        dossiers.c.status,
        dossiers.c.finished_at,
        ratings.c.score,
        ratings.c.rated_at,
    ).select_from(dossiers.outerjoin(ratings, ratings.c.dossier_id == dossiers.c.id))


def _add_statement() -> ReturningInsert[Any]:
    """The next number of the unit's day and the new dossier, in one statement (the number in a CTE). A
    used key makes the insert a no-op that returns nothing: the caller rolls back, the number with it.
    Built once, with a parameter for each value: building it per submission cost more than running it."""
    sequence = (
        insert(daily_sequences)
        .values(
            receiving_unit=bindparam("receiving_unit", type_=daily_sequences.c.receiving_unit.type),
            day=bindparam("day", type_=daily_sequences.c.day.type),
            last=1,
        )
        .on_conflict_do_update(
            index_elements=[daily_sequences.c.receiving_unit, daily_sequences.c.day],
            set_={"last": daily_sequences.c.last + 1},
        )
        .returning(daily_sequences.c.last)
        .cte("sequence")
    )
    number = cast(sequence.c.last, Text)
    # domain.submission.dossier_code, in SQL: zero-padded, never cut.
    padded = func.lpad(number, func.greatest(func.length(number), SEQUENCE_DIGITS), "0")
    code = bindparam("code_prefix", type_=Text) + padded
    columns = (
        "idempotency_key",
        "request_fingerprint",
        "procedure_code",
        "channel",
        "applicant",
        "form",
        "submitted_at",
        "due_date",
        "tracking_secret_sha256",
    )
    return (
        insert(dossiers)
        .add_cte(sequence)
        .values(
            id=bindparam("dossier_id", type_=dossiers.c.id.type),
            code=select(code).select_from(sequence).scalar_subquery(),
            status="received",
            **{name: bindparam(name, type_=dossiers.c[name].type) for name in columns},
        )
        .on_conflict_do_nothing(index_elements=[dossiers.c.idempotency_key])
        .returning(dossiers.c.code)
    )


_ADD = _add_statement()
