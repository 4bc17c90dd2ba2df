"""`dossierbus_db_statements_total` counts what a `Database` sends to a real PostgreSQL: each statement by
kind, each transaction's begin and end, per service."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from dossierbus_shared.db import Database

KINDS = ("select", "insert", "update", "delete", "other", "begin", "commit", "rollback")


def counted(service: str) -> dict[str, float]:
    return {
        kind: REGISTRY.get_sample_value("dossierbus_db_statements_total", {"service": service, "kind": kind})
        or 0.0
        for kind in KINDS
    }


def added(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {kind: after[kind] - before[kind] for kind in KINDS if after[kind] != before[kind]}


async def test_statements_and_transactions_are_counted_by_kind_per_service(database_url: str) -> None:
    service, other_service = f"s{uuid.uuid4().hex[:10]}", f"s{uuid.uuid4().hex[:10]}"
    db, other_db = Database(database_url, service), Database(database_url, other_service)
    try:
        async with other_db.transaction() as session:
            await session.execute(text("SELECT 1"))
        before, other_before = counted(service), counted(other_service)

        async with db.transaction() as session:
            await session.execute(text("CREATE TEMPORARY TABLE counted (n integer) ON COMMIT DROP"))
            # Several rows in one executemany: one round trip, one count.
            await session.execute(text("INSERT INTO counted VALUES (:n)"), [{"n": 1}, {"n": 2}, {"n": 3}])
            await session.execute(text("UPDATE counted SET n = n + 1"))
            await session.execute(text("  select sum(n) from counted"))
            await session.execute(text("DELETE FROM counted WHERE n > 2"))
        assert added(before, counted(service)) == {
            "begin": 1,
            "other": 1,
            "insert": 1,
            "update": 1,
            "select": 1,
            "delete": 1,
            "commit": 1,
        }

        before = counted(service)
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                await session.execute(text("SELECT 1"))
                raise RuntimeError("undo")
        assert added(before, counted(service)) == {"begin": 1, "select": 1, "rollback": 1}
        assert counted(other_service) == other_before
    finally:
        await db.dispose()
        await other_db.dispose()
