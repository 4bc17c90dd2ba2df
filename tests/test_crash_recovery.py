"""kill -9 the routing service while hundreds of dossiers are in flight: after a restart every dossier
reaches its final state, and every effect happened exactly once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from asyncpg import Record

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import birth_registration, submit
from dossierbus_devstack.stack import DevStack

pytestmark = pytest.mark.slow

DOSSIERS = 200


async def test_routing_killed_mid_flight_every_dossier_finishes_exactly_once(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    limit = asyncio.Semaphore(16)

    async def submit_one(index: int) -> str:
        async with limit:
            return str((await submit(http, stack, birth_registration(100 + index)))["dossier_code"])

    submitting = asyncio.gather(*(submit_one(index) for index in range(DOSSIERS)))
    async with stack.database() as db:

        async def some_started() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM routing.dossiers") >= 30)

        await eventually(some_started, interval_s=0.05)
        stack.kill("routing")
        codes = await submitting
        finished_before_restart = await db.fetchval(
            "SELECT count(*) FROM routing.dossiers WHERE code = ANY($1) AND status = 'returned'", codes
        )
        assert finished_before_restart < DOSSIERS, "the kill came too late to interrupt anything"
        await stack.start("routing")

        async def all_returned() -> None:
            finished = await db.fetchval(
                "SELECT count(*) FROM routing.dossiers WHERE code = ANY($1) AND status = 'returned'", codes
            )
            assert finished == DOSSIERS, f"{finished} of {DOSSIERS} returned"

        await eventually(all_returned, timeout_s=120)

        repeated = await db.fetch(
            """SELECT d.code, t.status, count(*) AS times FROM routing.timeline t
               JOIN routing.dossiers d ON d.id = t.dossier_id
               WHERE d.code = ANY($1) AND t.outcome = 'applied'
               GROUP BY d.code, t.event, t.status HAVING count(*) > 1""",
            codes,
        )
        assert repeated == []
        changes = await db.fetchval(
            """SELECT count(*) FROM routing.timeline t JOIN routing.dossiers d ON d.id = t.dossier_id
               WHERE d.code = ANY($1) AND t.event = 'status-changed'""",
            codes,
        )
        assert changes == DOSSIERS * 4  # accepted, processing, result_ready, returned

        async def each_emailed() -> list[Record]:
            per_dossier: list[Record] = await db.fetch(
                # The applicant's emails: agencies onboarded by other tests may get webhooks as well.
                """SELECT dossier_code, count(*) AS sent FROM notifications.notifications
                   WHERE dossier_code = ANY($1) AND status = 'delivered' AND channel = 'email'
                   GROUP BY dossier_code""",
                codes,
            )
            short = [row["dossier_code"] for row in per_dossier if row["sent"] < 4]
            assert len(per_dossier) == DOSSIERS and not short, f"{len(per_dossier)} emailed, {short} short"
            return per_dossier

        per_dossier = await eventually(each_emailed)
        odd = [row["dossier_code"] for row in per_dossier if row["sent"] != 4]
        sent = await db.fetch(
            """SELECT dossier_code, channel, recipient, event_type, event_id, subject
               FROM notifications.notifications
               WHERE dossier_code = ANY($1) AND status = 'delivered' ORDER BY dossier_code, id""",
            odd,
        )
        assert odd == [], [dict(row) for row in sent]
        assert len(per_dossier) == DOSSIERS
