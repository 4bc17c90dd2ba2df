from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from dossierbus_routing.adapters.tables import dossiers, timeline
from dossierbus_shared.http_errors import ProblemError
from dossierbus_shared.service import Service

router = APIRouter(tags=["dossiers"])


@router.get("/dossiers/{code}", summary="A dossier's current status and its timeline")
async def dossier_timeline(code: str, request: Request) -> dict[str, Any]:
    service: Service = request.app.state.service
    async with service.db.transaction() as session:
        dossier = (await session.execute(select(dossiers).where(dossiers.c.code == code))).first()
        if dossier is None:
            raise ProblemError(404, "Not found", f"no dossier {code!r} has reached routing")
        entries = (
            await session.execute(
                select(timeline).where(timeline.c.dossier_id == dossier.id).order_by(timeline.c.id)
            )
        ).all()
    return {
        "dossier_id": str(dossier.id),
        "dossier_code": dossier.code,
        "procedure_code": dossier.procedure_code,
        "status": dossier.status,
        "agency_code": dossier.agency_code,
        "step": dossier.step,
        "due_date": dossier.due_date.isoformat(),
        "timeline": [
            {
                "at": entry.at.isoformat(),
                "event": entry.event,
                "status": entry.status,
                "agency_code": entry.agency_code,
                "step": entry.step,
                "note": entry.note,
                "outcome": entry.outcome,
                "event_id": str(entry.event_id) if entry.event_id else None,
                "trace_id": entry.trace_id,
            }
            for entry in entries
        ],
    }
