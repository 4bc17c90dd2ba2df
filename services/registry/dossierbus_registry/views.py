"""Read-only views for the HTTP entrypoints, straight from the tables: a subject's access log with the
check of its chain, and the once-only rate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from dossierbus_registry.adapters.access_log import entries, head
from dossierbus_registry.adapters.tables import dossiers
from dossierbus_registry.domain.access_log import ChainKey, verify_chain
from dossierbus_registry.domain.once_only import rate
from dossierbus_registry.unit_of_work import RegistryUnitOfWork
from dossierbus_shared.db import one_snapshot


async def access_log_of(uow: RegistryUnitOfWork, subject: str, key: ChainKey) -> dict[str, Any]:
    """First in its transaction: the entries and the head are read as of one moment, or an entry
    appended between the two reads would look like a chain cut short."""
    await one_snapshot(uow.session)
    rows = await entries(uow.session, subject)
    check = verify_chain(rows, await head(uow.session, subject), key)
    return {
        "subject": subject,
        "chain": {
            "intact": check.intact,
            "entries": check.entries,
            "first_broken": check.first_broken_seq,
            "problem": check.problem,
        },
        "entries": [_entry(row) for row in rows],
    }


def _entry(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "seq": row["seq"],
        "at": row["at"].isoformat(),
        "agency_code": row["agency_code"],
        "procedure_code": row["procedure_code"],
        "dossier_code": row["dossier_code"],
        "consent_id": row["consent_id"],
        "fields": list(row["fields"]),
        "outcome": row["outcome"],
        "reason": row["reason"],
        "hash": row["hash"],
    }


async def once_only(uow: RegistryUnitOfWork, procedure_code: str | None = None) -> dict[str, Any]:
    query = select(
        dossiers.c.procedure_code,
        func.count().label("dossiers"),
        func.sum(dossiers.c.fields_from_national_data).label("from_national"),
        func.sum(dossiers.c.fields_typed).label("typed"),
    ).group_by(dossiers.c.procedure_code)
    if procedure_code:
        query = query.where(dossiers.c.procedure_code == procedure_code)
    rows = (await uow.session.execute(query.order_by(dossiers.c.procedure_code))).all()
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
