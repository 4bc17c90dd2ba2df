"""Many rows in one statement on a real PostgreSQL: what `dossierbus_shared.db.rows` writes, and that a
batch is one statement, not one execution per row."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, event, select
from sqlalchemy.dialects.postgresql import JSONB

from dossierbus_devstack.scratch import scratch_schema
from dossierbus_shared.db import Database
from dossierbus_shared.db.rows import update_rows

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False),
    Column("note", String),
    Column("closed_at", DateTime(timezone=True)),
    Column("lines", JSONB),
)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with scratch_schema(database_url, metadata, "rows") as database:
        yield database


class Executions:
    """Each statement the engine sends: its first words and how many parameters its text takes (an
    executemany of N rows would take one row's, N times: counted in `executemany`)."""

    def __init__(self, db: Database) -> None:
        self.seen: list[tuple[str, int]] = []
        self.texts: list[str] = []
        self.executemany = 0
        event.listen(db.engine.sync_engine, "before_cursor_execute", self.executed)

    def executed(self, _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _: bool) -> None:
        self.executemany += context.execute_style.name == "EXECUTEMANY"
        self.seen.append((" ".join(statement.split()[:3]), len(set(re.findall(r"\$\d+", statement)))))
        self.texts.append(statement)


async def stored(db: Database) -> dict[int, tuple[str, str | None, datetime | None]]:
    async with db.transaction() as session:
        result = await session.execute(select(things).order_by(things.c.id))
        return {row.id: (row.name, row.note, row.closed_at) for row in result}


def rows(ids: range, name: str, note: str | None = None) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"{name}{i}", "note": note, "closed_at": None} for i in ids]


async def test_a_plain_insert_of_many_rows_is_one_statement(db: Database) -> None:
    executions = Executions(db)
    async with db.transaction() as session:
        await session.execute(things.insert(), rows(range(1, 6), "a"))
    assert executions.seen == [("INSERT INTO things", 5 * 4)] and executions.executemany == 0
    assert len(await stored(db)) == 5


async def test_update_rows_gives_each_row_its_own_values_in_one_statement(db: Database) -> None:
    closed = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    async with db.transaction() as session:
        await session.execute(things.insert(), rows(range(1, 5), "t", "before"))
        await session.execute(things.update().where(things.c.id == 4).values(closed_at=closed))
    executions = Executions(db)
    async with db.transaction() as session:
        await update_rows(
            session,
            things,
            [
                {"id": 1, "note": None, "closed_at": closed},  # a NULL takes its column's type
                {"id": 2, "note": "two", "closed_at": None},
                {"id": 4, "note": "four", "closed_at": None},
                {"id": 9, "note": "nobody", "closed_at": None},
            ],
            "id",
            also={"name": "same"},
            where=things.c.closed_at.is_(None),
        )
    # One statement whose text takes one array per column, whatever the number of rows.
    assert executions.seen == [("UPDATE things SET", 3 + 1)] and executions.executemany == 0
    assert await stored(db) == {
        1: ("same", None, closed),
        2: ("same", "two", None),
        3: ("t3", "before", None),
        4: ("t4", "before", closed),  # did not meet `where`
    }


async def test_an_update_of_one_row_or_of_many_is_the_same_statement(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(things.insert(), rows(range(1, 5), "t"))
    executions = Executions(db)
    for ids in (range(1, 2), range(2, 5)):
        async with db.transaction() as session:
            await update_rows(session, things, [{"id": i, "note": f"n{i}"} for i in ids], "id")
    first, then = executions.texts
    assert first == then  # prepared once by PostgreSQL, compiled once by SQLAlchemy
    assert [note for _, note, _ in (await stored(db)).values()] == ["n1", "n2", "n3", "n4"]


async def test_json_values_even_lists_are_written_as_given(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(things.insert(), rows(range(1, 4), "t"))
        await update_rows(
            session,
            things,
            [
                {"id": 1, "lines": [{"fee": 10000}, {"fee": 5000}]},  # not a dimension of the array
                {"id": 2, "lines": {"fee": 1}},
                {"id": 3, "lines": None},
            ],
            "id",
        )
    async with db.transaction() as session:
        stored_lines = dict((await session.execute(select(things.c.id, things.c.lines))).all())
    assert stored_lines == {1: [{"fee": 10000}, {"fee": 5000}], 2: {"fee": 1}, 3: None}
