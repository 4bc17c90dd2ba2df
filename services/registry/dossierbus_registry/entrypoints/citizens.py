"""What a citizen may ask of the registry: who read my data, when and why; and the once-only rate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from dossierbus_registry import access_log
from dossierbus_registry.entrypoints.auth import CallingAgency
from dossierbus_registry.lookups import PORTAL_SECTOR
from dossierbus_registry.once_only import once_only_report
from dossierbus_shared.http_errors import ProblemError, problem_responses
from dossierbus_shared.service import Service

router = APIRouter(tags=["citizens"])
Subject = Annotated[str, Path(pattern=r"^\d{10}(\d{2,3})?$", description="A personal ID or a tax code")]


@router.get(
    "/access-log/{subject}",
    summary="Who read a citizen's (or an enterprise's) data, when and why",
    responses=problem_responses(401, 403),
)
async def who_read_my_data(subject: Subject, agency: CallingAgency, request: Request) -> dict[str, Any]:
    # The citizen asks through a one-stop portal, after the portal has identified them.
    if agency.sector != PORTAL_SECTOR:
        raise ProblemError(403, "Forbidden", "only one-stop portals answer a citizen's access requests")
    service: Service = request.app.state.service
    async with service.db.transaction() as session:
        rows = await access_log.entries(session, subject)
    check = access_log.verify_chain(rows)
    return {
        "subject": subject,
        "chain": {
            "intact": check.intact,
            "entries": check.entries,
            "first_broken": check.first_broken_seq,
            "problem": check.problem,
        },
        "entries": [
            {
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
            for row in rows
        ],
    }


@router.get("/once-only", summary="Fields filled from national data versus typed, per procedure")
async def once_only(
    request: Request, procedure_code: Annotated[str | None, Query(max_length=32)] = None
) -> dict[str, Any]:
    service: Service = request.app.state.service
    async with service.db.transaction() as session:
        return await once_only_report(session, procedure_code)
