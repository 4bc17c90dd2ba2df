"""What a citizen may ask of the registry: who read my data, when and why (auditors may ask too); and the
once-only rate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from dossierbus_registry import access_log
from dossierbus_registry.entrypoints.auth import Auditor, CitizenOrAuditor
from dossierbus_registry.entrypoints.roles import Role
from dossierbus_registry.lookups import reader_chain
from dossierbus_registry.once_only import once_only_report
from dossierbus_shared.events import AGENCY_CODE_PATTERN
from dossierbus_shared.http_errors import ProblemError
from dossierbus_shared.service import Service

router = APIRouter(tags=["citizens"])
Subject = Annotated[str, Path(pattern=r"^\d{10}(\d{2,3})?$", description="A personal ID or a tax code")]


@router.get(
    "/access-log/{subject}",
    summary="Who read a citizen's (or an enterprise's) data, when and why: the citizen's own, or any for "
    "auditors",
)
async def who_read_my_data(subject: Subject, caller: CitizenOrAuditor, request: Request) -> dict[str, Any]:
    if caller.role == Role.CITIZEN and caller.subject != subject:
        raise ProblemError(403, "Forbidden", "a citizen reads only the log of their own personal ID")
    return await _chain(request, subject)


@router.get(
    "/access-log/readers/{reader}",
    summary="Auditors: requests refused to a reader (agency code or `portal`) about subjects it had no "
    "standing for",
)
async def refused_to_reader(
    reader: Annotated[str, Path(pattern=AGENCY_CODE_PATTERN)], auditor: Auditor, request: Request
) -> dict[str, Any]:
    return await _chain(request, reader_chain(reader))


async def _chain(request: Request, subject: str) -> dict[str, Any]:
    service: Service = request.app.state.service
    key: access_log.ChainKey = request.app.state.chain_key
    async with service.db.transaction() as session:
        rows = await access_log.entries(session, subject)
        head = await access_log.head(session, subject)
    check = access_log.verify_chain(rows, head, key)
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


@router.get("/once-only", summary="Fields filled from national data versus typed, per procedure")
async def once_only(
    request: Request, procedure_code: Annotated[str | None, Query(max_length=32)] = None
) -> dict[str, Any]:
    service: Service = request.app.state.service
    async with service.db.transaction() as session:
        return await once_only_report(session, procedure_code)
