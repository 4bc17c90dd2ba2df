"""A transaction's pending writes on a real PostgreSQL: every table in one statement at the commit, values
of every type written as given, each table's writes in order, nothing written when the commit fails."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from asyncpg.pgproto import pgproto
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Uuid,
    event,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError

from dossierbus_devstack.scratch import scratch_schema
from dossierbus_shared.db import Database
from dossierbus_shared.db.writes import PendingWrites, pending_writes

metadata = MetaData()
parents = Table(
    "parents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False),
    Column("note", String),
)
children = Table(
    "children",
    metadata,
    Column("serial", BigInteger, primary_key=True, autoincrement=True),
    Column("parent_id", Integer, ForeignKey("parents.id"), nullable=False),
    Column("name", String, nullable=False, unique=True),
    Column("tags", ARRAY(String), nullable=False),
    Column("lines", JSONB),
    Column("at", DateTime(timezone=True)),
    Column("day", Date),
    Column("ref", Uuid),
    Column("read_ref", Uuid),
    Column("amount", Numeric),
    Column("blob", LargeBinary),
)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with scratch_schema(database_url, metadata, "writes") as database:
        yield database


def statements(db: Database) -> list[str]:
    """The statements the engine sends from now on."""
    seen: list[str] = []

    def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", executed)
    return seen


def child(serial_name: str, parent_id: int = 1, **values: Any) -> dict[str, Any]:
    return {"parent_id": parent_id, "name": serial_name, "tags": [], **values}


async def all_children(db: Database) -> list[Any]:
    async with db.transaction() as session:
        return list((await session.execute(select(children).order_by(children.c.serial))).all())


async def all_parents(db: Database) -> dict[int, tuple[str, str | None]]:
    async with db.transaction() as session:
        found = await session.execute(select(parents).order_by(parents.c.id))
        return {row.id: (row.name, row.note) for row in found}


async def test_rows_of_several_tables_go_in_one_statement_at_the_commit(db: Database) -> None:
    sent = statements(db)
    async with db.transaction() as session:
        writes = pending_writes(session)
        writes.insert(children, [child("a"), child("b", parent_id=2)])  # refers to parents not yet written
        writes.upsert(parents, [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}], ["id"])
        writes.insert(children, [child("c", parent_id=2)])
        assert sent == []  # nothing until the commit
    assert len(sent) == 1 and sent[0].startswith("WITH w0 AS (INSERT INTO")
    assert [(row.parent_id, row.name) for row in await all_children(db)] == [(1, "a"), (2, "b"), (2, "c")]
    assert await all_parents(db) == {1: ("one", None), 2: ("two", None)}


async def test_the_statement_text_does_not_depend_on_the_number_of_rows(db: Database) -> None:
    sent = statements(db)
    for count in (1, 40):
        async with db.transaction() as session:
            rows = [{"id": count * 100 + i, "name": f"p{i}"} for i in range(count)]
            pending_writes(session).upsert(parents, rows, ["id"])
    first, then = sent
    assert first == then
    assert len(await all_parents(db)) == 41


async def test_every_type_is_written_as_given(db: Database) -> None:
    values = {
        "tags": ["a b", 'quote "', "", "ký tự"],
        "lines": [{"fee": 10000, "note": None}, [1, 2]],
        "at": datetime(2026, 12, 3, 4, 5, 6, 789012, tzinfo=UTC),
        "day": date(2026, 2, 28),
        "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "read_ref": pgproto.UUID("87654321-4321-8765-4321-876543218765"),  # as read from PostgreSQL
        "amount": Decimal("12345.6789"),
        "blob": b"\x00\xffbytes",
    }
    nothing: dict[str, Any] = dict.fromkeys(["lines", "at", "day", "ref", "read_ref", "amount", "blob"])
    async with db.transaction() as session:
        writes = pending_writes(session)
        writes.insert(parents, [{"id": 1, "name": "one"}])
        writes.insert(children, [child("full", **values), child("empty", **nothing)])
    full, empty = await all_children(db)
    assert {name: getattr(full, name) for name in values} == values
    assert {name: getattr(empty, name) for name in nothing} == nothing


async def test_a_naive_datetime_is_written_as_utc(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(text("SET LOCAL TIME ZONE 'Asia/Ho_Chi_Minh'"))  # not the session's zone
        writes = pending_writes(session)
        writes.insert(parents, [{"id": 1, "name": "one"}])
        writes.insert(children, [child("naive", at=datetime(2026, 12, 3, 4, 5, 6, 7))])
    (naive,) = await all_children(db)
    assert naive.at == datetime(2026, 12, 3, 4, 5, 6, 7, tzinfo=UTC)


async def test_an_upsert_replaces_the_given_columns_and_the_last_of_a_key_wins(db: Database) -> None:
    async with db.transaction() as session:
        stored = [{"id": i, "name": f"old{i}", "note": "kept"} for i in (1, 2)]
        pending_writes(session).insert(parents, stored)
    async with db.transaction() as session:
        writes = pending_writes(session)
        writes.upsert(parents, [{"id": 2, "name": "new2"}, {"id": 3, "name": "first3"}], ["id"])
        writes.upsert(parents, [{"id": 3, "name": "last3"}], ["id"])
    assert await all_parents(db) == {1: ("old1", "kept"), 2: ("new2", "kept"), 3: ("last3", None)}


async def test_insert_new_skips_rows_a_unique_key_holds_already(db: Database) -> None:
    async with db.transaction() as session:
        writes = pending_writes(session)
        writes.insert(parents, [{"id": 1, "name": "one"}])
        writes.insert_new(children, [child("a", tags=["first"])])
    async with db.transaction() as session:
        writes = PendingWrites()
        writes.insert_new(children, [child("a", tags=["stored"]), child("b", tags=["first"])])
        writes.insert_new(children, [child("b", tags=["repeated"])])
        assert await writes.send(session) == 1  # the rows written, not those skipped
    assert [(row.name, row.tags) for row in await all_children(db)] == [("a", ["first"]), ("b", ["first"])]


async def test_a_table_written_two_ways_gets_a_second_statement_in_order(db: Database) -> None:
    sent = statements(db)
    async with db.transaction() as session:
        writes = pending_writes(session)
        writes.insert(parents, [{"id": 1, "name": "inserted"}])
        writes.upsert(parents, [{"id": 1, "name": "then replaced"}], ["id"])
    assert len(sent) == 2
    assert await all_parents(db) == {1: ("then replaced", None)}


async def test_a_violated_constraint_fails_the_commit_and_writes_nothing(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            writes = pending_writes(session)
            writes.insert(parents, [{"id": 1, "name": "one"}])
            writes.insert(children, [child("orphan", parent_id=99)])
    assert await all_parents(db) == {} and await all_children(db) == []


async def test_a_column_the_table_lacks_is_refused_when_added(db: Database) -> None:
    async with db.transaction() as session:
        with pytest.raises(ValueError, match="parents has no column colour"):
            pending_writes(session).insert(parents, [{"id": 1, "name": "one", "colour": "red"}])


async def test_rows_with_different_columns_are_refused_when_added(db: Database) -> None:
    async with db.transaction() as session:
        with pytest.raises(ValueError, match="the rows for parents do not all have the same columns"):
            pending_writes(session).insert(parents, [{"id": 1, "name": "one"}, {"id": 2}])


async def test_a_transaction_that_adds_nothing_sends_nothing(db: Database) -> None:
    sent = statements(db)
    async with db.transaction() as session:
        pending_writes(session).insert(parents, [])
    assert sent == []
