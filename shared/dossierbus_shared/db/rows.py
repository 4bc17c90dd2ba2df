"""Writing many rows in one statement.

An executemany is one round trip but PostgreSQL still executes it once per row; a multi-row VALUES is
one statement for the lot. Plain INSERTs get that from SQLAlchemy (`Database` turns on insertmanyvalues
without RETURNING); INSERTs with ON CONFLICT, which SQLAlchemy leaves to executemany, and UPDATEs of many
rows each with its own values (an UPDATE ... FROM (VALUES ...)) are written here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, cast, column, values
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

MAX_PARAMETERS = 32_000
"""PostgreSQL takes at most 32,767 bind parameters in one statement: larger sets go in several."""


async def upsert(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str]
) -> None:
    """Insert `rows` (all with the same columns); a row whose `key` exists already replaces the stored
    one's other columns. The rows must not repeat a key: PostgreSQL updates a row once per statement."""
    for chunk in _chunks(rows):
        statement = insert(table).values(chunk)
        others = {name: statement.excluded[name] for name in rows[0] if name not in key}
        await session.execute(statement.on_conflict_do_update(index_elements=list(key), set_=others))


async def insert_new(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (all with the same columns), skipping each that a unique key already holds."""
    for chunk in _chunks(rows):
        await session.execute(insert(table).values(chunk).on_conflict_do_nothing())


async def update_rows(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: str,
    *,
    also: Mapping[str, Any] | None = None,
    where: ColumnElement[bool] | None = None,
) -> None:
    """Give each stored row whose `key` column equals one of `rows`' the other columns of that row (all
    rows with the same columns), and the values of `also` (the same for every row); only the stored rows
    that also meet `where`."""
    for chunk in _chunks(rows):
        names = list(chunk[0])
        given = values(*(column(name, table.c[name].type) for name in names), name="given").data(
            [tuple(row[name] for name in names) for row in chunk]
        )
        # A value the VALUES list gives as NULL has no type of its own: each takes its column's.
        changes = {name: cast(given.c[name], table.c[name].type) for name in names if name != key}
        statement = table.update().where(table.c[key] == given.c[key]).values(changes | dict(also or {}))
        await session.execute(statement if where is None else statement.where(where))


def _chunks(rows: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """One statement per 32,000 parameters."""
    if not rows:
        return []
    per_statement = max(1, MAX_PARAMETERS // len(rows[0]))
    return [list(rows[start : start + per_statement]) for start in range(0, len(rows), per_statement)]
