"""The notifications service's HTTP API: delivery logs, dead letters and their re-queueing, and where
webhooks go."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query

from dossierbus_notifications import views
from dossierbus_notifications.delivery import requeue
from dossierbus_notifications.domain.notification import NotDead
from dossierbus_notifications.signature import SIGNATURE_HEADER
from dossierbus_notifications.unit_of_work import UnitsOfWork
from dossierbus_shared.auth import Caller, Role, authenticated
from dossierbus_shared.bounds import RowId
from dossierbus_shared.db import retry_dropped_connection
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.http_errors import ProblemError, problem_responses

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


def router(units: UnitsOfWork, directory: AgencyDirectory, *, webhook_tolerance_s: int) -> APIRouter:
    """The routes, on what `bootstrap()` made."""
    routes = APIRouter(tags=["notifications"])

    @routes.get("/dossiers/{code}/notifications", summary="The delivery log of one dossier, every attempt")
    async def delivery_log(
        code: str, caller: Annotated[Caller, authenticated(Role.CITIZEN, Role.PORTAL, Role.OPERATOR)]
    ) -> dict[str, Any]:
        """For the applicant (citizen token), the portal and operators; anyone else sees no notification."""

        async def read() -> list[dict[str, Any]]:
            async with units() as uow:
                if caller.role is Role.CITIZEN and not caller.is_citizen(
                    await views.applicant_of(uow.session, code)
                ):
                    raise ProblemError(404, "Not found", f"no notifications of dossier {code!r}")
                return await views.notifications_of(uow.session, code)

        return {"dossier_code": code, "notifications": await retry_dropped_connection(read)}

    @routes.get("/deliveries", summary="Notifications by status and channel, e.g. a channel's dead letters")
    async def deliveries(
        _caller: Operator,
        status: Status | None = None,
        channel: ChannelName | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        async def read() -> list[dict[str, Any]]:
            async with units() as uow:
                return await views.deliveries(
                    uow.session,
                    status=status.value if status else None,
                    channel=channel.value if channel else None,
                    limit=limit,
                )

        return {"deliveries": await retry_dropped_connection(read)}

    @routes.post(
        "/deliveries/{delivery_id}/requeue",
        status_code=202,
        summary="Send a dead notification again, with a fresh set of tries",
        responses=problem_responses(404, described={409: "Not dead: only dead deliveries re-queue"}),
    )
    async def requeue_dead(delivery_id: RowId, _caller: Operator) -> dict[str, Any]:
        try:
            requeued = await requeue(units, delivery_id)
        except NotDead as not_dead:
            raise ProblemError(
                409, "Conflict", f"delivery {delivery_id} is {not_dead.status}; only dead ones re-queue"
            ) from None
        if requeued is None:
            raise ProblemError(404, "Not found", f"no delivery {delivery_id}")
        return views.view(requeued, [])

    @routes.get("/webhooks", summary="How webhooks are signed, and the agency systems they go to")
    async def webhook_subscribers(_caller: Operator) -> dict[str, Any]:
        return {
            "signature": {
                "header": SIGNATURE_HEADER,
                "scheme": "t=<unix time>,v1=hex(HMAC-SHA256(webhook_secret, '<t>.' + body))",
                "tolerance_s": webhook_tolerance_s,
            },
            "agencies": [
                {"code": entry.code, "webhook_url": entry.webhook_url}
                for entry in sorted(directory.entries.values(), key=lambda item: item.code)
                if entry.status == "active" and entry.webhook_url
            ],
        }

    return routes
