"""Operators' view of the portal sync: each change of one dossier, and the changes the portal refused
(or that are being retried). Operators only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import Row, func, select

from dossierbus_routing.entrypoints.dependencies import UnitsOfWork
from dossierbus_routing.portal_sync.store import FAILED, PENDING, portal_sync
from dossierbus_routing.views import dossier_by_code
from dossierbus_shared.auth import Caller, Role, authenticated
from dossierbus_shared.db import retry_dropped_connection
from dossierbus_shared.http_errors import ProblemError, problem_responses

router = APIRouter(tags=["portal sync"])
Operator = Annotated[Caller, authenticated(Role.OPERATOR)]


def sync_enabled(request: Request) -> bool:
    return bool(getattr(request.app.state, "portal_sync_enabled", False))


@router.get(
    "/dossiers/{code}/portal-sync",
    summary="What the national portal was told of a dossier: each status change, sent, pending or failed",
    responses=problem_responses(404),
)
async def dossier_sync(
    code: str, request: Request, units_of_work: UnitsOfWork, _caller: Operator
) -> dict[str, Any]:

    async def read() -> Sequence[Row[Any]]:
        async with units_of_work() as uow:
            dossier = await dossier_by_code(uow.session, code)
            if dossier is None:
                raise ProblemError(404, "Not found", f"no dossier {code!r} has reached routing")
            changes = select(portal_sync).where(portal_sync.c.dossier_id == dossier.id)
            return (await uow.session.execute(changes.order_by(portal_sync.c.id))).all()

    rows = await retry_dropped_connection(read)  # a read: run again on a connection a restart left dead
    return {
        "dossier_code": code,
        "enabled": sync_enabled(request),
        "changes": [change_view(row) for row in rows],
    }


@router.get(
    "/portal-sync/failures",
    summary="Changes the national portal refused (never resent), newest first, and those being retried",
)
async def failures(
    request: Request,
    units_of_work: UnitsOfWork,
    _caller: Operator,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most changes listed of each kind")] = 100,
) -> dict[str, Any]:

    async def read() -> tuple[Sequence[Row[Any]], int, Sequence[Row[Any]]]:
        async with units_of_work() as uow:
            session = uow.session
            failed = (
                await session.execute(
                    select(portal_sync)
                    .where(portal_sync.c.state == FAILED)
                    .order_by(portal_sync.c.id.desc())
                    .limit(limit)
                )
            ).all()
            failed_total = (
                await session.execute(select(func.count()).where(portal_sync.c.state == FAILED))
            ).scalar_one()
            retrying = (
                await session.execute(
                    select(portal_sync)
                    .where(portal_sync.c.state == PENDING, portal_sync.c.attempts > 0)
                    .order_by(portal_sync.c.id)
                    .limit(limit)
                )
            ).all()
        return failed, failed_total, retrying

    failed, failed_total, retrying = await retry_dropped_connection(read)  # a read: run again if needed
    return {
        "enabled": sync_enabled(request),
        "failed_total": failed_total,
        "failed": [change_view(row) for row in failed],
        "retrying": [change_view(row) for row in retrying],
    }


def change_view(row: Row[Any]) -> dict[str, Any]:
    return {
        "dossier_code": row.dossier_code,
        "idempotency_key": str(row.idempotency_key),
        "status": row.status,
        "previous_status": row.previous_status,
        "national_status": row.national_status,
        "changed_at": row.changed_at.isoformat(),
        "state": row.state,
        "attempts": row.attempts,
        "error": row.last_error,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    }
