"""The once-only rate: of the facts a dossier needed, how many came from national data rather than
from the applicant's typing."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.tables import dossiers
from dossierbus_shared.db import after_commit
from dossierbus_shared.events import DossierSubmitted

FIELDS = Counter(
    "dossierbus_once_only_fields",
    "Dossier fields by where they came from: national data or the applicant's typing",
    ["procedure_code", "source"],
)
# What the applicant identifies with (e.g. by VNeID) is not typed data the state could have supplied.
IDENTITY_FIELDS = {"applicant.personal_id", "applicant.email", "applicant.phone"}


def count_fields(session: AsyncSession, submitted: DossierSubmitted, national_facts: int) -> tuple[int, int]:
    """(fields from national data, fields typed): facts delivered plus prefilled fields, versus the rest.
    Counted in the metric once the session's transaction commits (a retried handler counts once)."""
    given = {f"applicant.{name}" for name in ("full_name", "date_of_birth")} | {
        f"form.{name}" for name in submitted.form
    }
    prefilled = given & set(submitted.prefilled)
    from_national, typed = national_facts + len(prefilled), len(given - prefilled - IDENTITY_FIELDS)

    def count() -> None:
        FIELDS.labels(submitted.procedure_code, "national").inc(from_national)
        FIELDS.labels(submitted.procedure_code, "typed").inc(typed)

    after_commit(session, count)
    return from_national, typed


def rate(from_national: int, typed: int) -> float | None:
    total = from_national + typed
    return round(from_national / total, 4) if total else None


async def once_only_report(session: AsyncSession, procedure_code: str | None = None) -> dict[str, Any]:
    query = select(
        dossiers.c.procedure_code,
        func.count().label("dossiers"),
        func.sum(dossiers.c.fields_from_national_data).label("from_national"),
        func.sum(dossiers.c.fields_typed).label("typed"),
    ).group_by(dossiers.c.procedure_code)
    if procedure_code:
        query = query.where(dossiers.c.procedure_code == procedure_code)
    rows = (await session.execute(query.order_by(dossiers.c.procedure_code))).all()
    procedures = [
        {
            "procedure_code": row.procedure_code,
            "dossiers": row.dossiers,
            "fields_from_national_data": int(row.from_national),
            "fields_typed": int(row.typed),
            "once_only_rate": rate(int(row.from_national), int(row.typed)),
        }
        for row in rows
    ]
    national = sum(p["fields_from_national_data"] for p in procedures)
    typed = sum(p["fields_typed"] for p in procedures)
    return {"procedures": procedures, "once_only_rate": rate(national, typed)}
