from __future__ import annotations

from collections import defaultdict
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_notifications.adapters.tables import delivery_attempts, notifications, recipients
from dossierbus_notifications.delivery import requeue
from dossierbus_notifications.signature import SIGNATURE_HEADER
from dossierbus_shared.auth import Caller, Role, authenticated
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.http_errors import ProblemError
from dossierbus_shared.service import Service

router = APIRouter(tags=["notifications"])
Operator = Annotated[Caller, authenticated(Role.OPERATOR)]


class Status(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    UNDELIVERABLE = "undeliverable"
    AWAITING_RECIPIENT = "awaiting_recipient"


class ChannelName(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


@router.get("/dossiers/{code}/notifications", summary="The delivery log of one dossier, every attempt")
async def delivery_log(
    code: str,
    request: Request,
    caller: Annotated[Caller, authenticated(Role.CITIZEN, Role.PORTAL, Role.OPERATOR)],
) -> dict[str, Any]:
    """For the applicant (citizen token), the portal and operators; anyone else sees no notification."""
    service: Service = request.app.state.service
    async with service.db.transaction() as session:
        if caller.role is Role.CITIZEN:
            applicant = await session.scalar(
                select(recipients.c.applicant_personal_id).where(recipients.c.dossier_code == code)
            )
            if not caller.is_citizen(applicant):
                raise ProblemError(404, "Not found", f"no notifications of dossier {code!r}")
        rows = (
            await session.execute(
                select(notifications).where(notifications.c.dossier_code == code).order_by(notifications.c.id)
            )
        ).all()
        attempts = await _attempts(session, [row.id for row in rows])
    return {"dossier_code": code, "notifications": [_view(row, attempts[row.id]) for row in rows]}


@router.get("/deliveries", summary="Notifications by status and channel, e.g. a channel's dead letters")
async def deliveries(
    request: Request,
    _caller: Operator,
    status: Status | None = None,
    channel: ChannelName | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    service: Service = request.app.state.service
    query = select(notifications).order_by(notifications.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(notifications.c.status == status.value)
    if channel is not None:
        query = query.where(notifications.c.channel == channel.value)
    async with service.db.transaction() as session:
        rows = (await session.execute(query)).all()
        attempts = await _attempts(session, [row.id for row in rows])
    return {"deliveries": [_view(row, attempts[row.id]) for row in rows]}


@router.post(
    "/deliveries/{delivery_id}/requeue",
    status_code=202,
    summary="Send a dead notification again, with a fresh set of tries",
)
async def requeue_dead(delivery_id: int, request: Request, _caller: Operator) -> dict[str, Any]:
    service: Service = request.app.state.service
    row = await requeue(service.db, delivery_id)
    if row is None:
        async with service.db.transaction() as session:
            found = (
                await session.execute(select(notifications.c.status).where(notifications.c.id == delivery_id))
            ).first()
        if found is None:
            raise ProblemError(404, "Not found", f"no delivery {delivery_id}")
        raise ProblemError(
            409, "Conflict", f"delivery {delivery_id} is {found.status}; only dead ones re-queue"
        )
    return _view(row, [])


@router.get("/webhooks", summary="How webhooks are signed, and the agency systems they go to")
async def webhook_subscribers(request: Request, _caller: Operator) -> dict[str, Any]:
    directory: AgencyDirectory = request.app.state.directory
    return {
        "signature": {
            "header": SIGNATURE_HEADER,
            "scheme": "t=<unix time>,v1=hex(HMAC-SHA256(webhook_secret, '<t>.' + body))",
            "tolerance_s": request.app.state.webhook_tolerance_s,
        },
        "agencies": [
            {"code": entry.code, "webhook_url": entry.webhook_url}
            for entry in sorted(directory.entries.values(), key=lambda item: item.code)
            if entry.status == "active" and entry.webhook_url
        ],
    }


async def _attempts(session: AsyncSession, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        rows = await session.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.notification_id.in_(ids))
            .order_by(delivery_attempts.c.notification_id, delivery_attempts.c.attempt)
        )
        for row in rows:
            found[row.notification_id].append(
                {
                    "attempt": row.attempt,
                    "at": row.started_at.isoformat(),
                    "duration_ms": row.duration_ms,
                    "outcome": row.outcome,
                    "error": row.error,
                }
            )
    return found


def _view(row: Row[Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_id": str(row.event_id),
        "event_type": row.event_type,
        "dossier_code": row.dossier_code,
        "channel": row.channel,
        "recipient": masked(row.channel, row.recipient),
        "subject": row.subject,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": row.created_at.isoformat(),
        "next_attempt_at": row.next_attempt_at.isoformat() if row.status == "pending" else None,
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
        "log": attempts,
    }


def masked(channel: str, recipient: str) -> str:
    """Enough of a citizen's address to tell deliveries apart, not to read it; agency codes in full."""
    if channel == "webhook" or not recipient:
        return recipient
    if channel == "email":
        name, _, domain = recipient.partition("@")
        return f"{name[:1]}***@{domain}"
    return f"***{recipient[-3:]}"
