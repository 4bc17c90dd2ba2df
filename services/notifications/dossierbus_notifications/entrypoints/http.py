from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from dossierbus_notifications.adapters.tables import notifications
from dossierbus_shared.service import Service

router = APIRouter(tags=["notifications"])


@router.get("/dossiers/{code}/notifications", summary="The delivery log of one dossier")
async def delivery_log(code: str, request: Request) -> dict[str, Any]:
    service: Service = request.app.state.service
    async with service.db.transaction() as session:
        rows = (
            await session.execute(
                select(notifications).where(notifications.c.dossier_code == code).order_by(notifications.c.id)
            )
        ).all()
    return {
        "dossier_code": code,
        "notifications": [
            {
                "event_id": str(row.event_id),
                "channel": row.channel,
                "subject": row.subject,
                "status": row.status,
                "attempts": row.attempts,
                "last_error": row.last_error,
                "created_at": row.created_at.isoformat(),
                "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
            }
            for row in rows
        ],
    }
