"""LISTEN on a real PostgreSQL: every NOTIFY reaches the listener, and after its connection is killed it
says it stopped listening, connects again and hears the next ones."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from dossierbus_devstack.database import asyncpg_dsn
from dossierbus_devstack.eventually import eventually
from dossierbus_shared.db import Database
from dossierbus_shared.db.listen import listen


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, "public")
    try:
        yield database
    finally:
        await database.engine.dispose()


async def notify(database_url: str, channel: str, payload: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute("SELECT pg_notify($1, $2)", channel, payload)
    finally:
        await connection.close()


async def test_notices_are_heard_again_after_the_connection_is_lost(db: Database, database_url: str) -> None:
    channel = f"test_{uuid.uuid4().hex[:12]}"
    heard: list[str] = []
    states: list[bool] = []
    listening = asyncio.create_task(
        listen(db, channel, heard.append, listening=states.append, reconnect_s=0.05)
    )
    try:
        await eventually(lambda: states == [True])
        await notify(database_url, channel, "first")
        await eventually(lambda: heard == ["first"])

        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            killed = await connection.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE $1",
                f"LISTEN%{channel}%",
            )
        finally:
            await connection.close()
        assert killed == 1
        await eventually(lambda: states == [True, False, True])

        await notify(database_url, channel, "second")
        await eventually(lambda: heard == ["first", "second"])
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
    assert states[-1] is False, "a cancelled listener says it no longer listens"
