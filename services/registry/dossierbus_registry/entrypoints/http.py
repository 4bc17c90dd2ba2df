from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from sqlalchemy import select

from dossierbus_registry.adapters.tables import access_log
from dossierbus_shared.events import PERSONAL_ID_PATTERN
from dossierbus_shared.service import Service

router = APIRouter(tags=["registry"])


@router.get("/access-log/{personal_id}", summary="Who read a citizen's data, when and why")
async def citizen_access_log(
    personal_id: Annotated[str, Path(pattern=PERSONAL_ID_PATTERN)], request: Request
) -> dict[str, Any]:
    service: Service = request.app.state.service
    async with service.db.transaction() as session:
        rows = (
            await session.execute(
                select(access_log).where(access_log.c.personal_id == personal_id).order_by(access_log.c.id)
            )
        ).all()
    return {
        "personal_id": personal_id,
        "entries": [
            {
                "at": row.at.isoformat(),
                "dossier_code": row.dossier_code,
                "procedure_code": row.procedure_code,
                "requested_by": row.requested_by,
                "fields": list(row.fields),
                "found": row.found == "yes",
            }
            for row in rows
        ],
    }
