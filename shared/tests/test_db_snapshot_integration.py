"""`one_snapshot`: a view read in several statements sees a commit made between them in all of its reads or
in none, where READ COMMITTED would show it to the later reads only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

from dossierbus_devstack.scratch import scratch_schema
from dossierbus_shared.db import Database, one_snapshot

metadata = MetaData()
entries = Table("entries", metadata, Column("seq", Integer, primary_key=True))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with scratch_schema(database_url, metadata, "snapshot") as database:
        yield database


async def read_twice_around_a_commit(db: Database, *, snapshot: bool) -> tuple[int, int]:
    """How many entries the view's first and second reads see, another transaction appending between."""
    async with db.transaction() as session:
        if snapshot:
            await one_snapshot(session)
        first = await session.scalar(select(func.count()).select_from(entries))
        async with db.transaction() as other:
            await other.execute(insert(entries).values(seq=(first or 0) + 1))
        second = await session.scalar(select(func.count()).select_from(entries))
    return first or 0, second or 0


async def test_one_snapshot_shows_a_commit_between_the_reads_to_none_of_them(db: Database) -> None:
    assert await read_twice_around_a_commit(db, snapshot=False) == (0, 1), "read committed: the skew"
    assert await read_twice_around_a_commit(db, snapshot=True) == (1, 1)
