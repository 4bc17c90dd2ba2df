"""A transaction's writes, sent together just before it commits: one statement for every table they touch.

Repositories and the outbox add rows (`pending_writes(session).insert(...)`) instead of executing an
INSERT each; at the commit the rows go as one statement of data-modifying CTEs, one per table:

    WITH w0 AS (INSERT INTO dossiers (...) SELECT ... FROM jsonb_populate_recordset(NULL::dossiers, $1)
                ... ON CONFLICT (id) DO UPDATE SET ... RETURNING 1),
         w1 AS (INSERT INTO outbox (...) SELECT ... FROM jsonb_populate_recordset(NULL::outbox, $2) ...)
    SELECT 1 FROM w0 UNION ALL SELECT 1 FROM w1

Each statement costs a round trip (3-4 ms of wall time on a busy 2-core box), so a consumer's batch that
wrote six tables spent a third of its transaction waiting between them. The rows travel as one JSON array
per table, typed by the table's own row type: the SQL text depends only on which tables and columns are
written, never on the number of rows (see `dossierbus_shared.db.rows` for why that matters), and array
and JSON columns need nothing special.

What the CTEs of one statement write is not visible to each other, and PostgreSQL checks foreign keys
when the statement ends, so a row and the rows referring to it may go in one statement. A table written
twice in different ways (an insert, then an upsert) goes into a second statement, after the first, so
the writes of each table keep their order. Errors (a constraint violated) surface at the commit.

Code that reads, in the same transaction, rows it has just added must execute its INSERT itself.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import orjson
from sqlalchemy import Table, TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_shared.db.engine import before_commit

Row = Mapping[str, Any]
Kind = Literal["insert", "insert_new", "upsert"]


@dataclasses.dataclass
class _Write:
    table: Table
    kind: Kind
    columns: tuple[str, ...]
    key: tuple[str, ...]
    rows: list[Row]

    @property
    def shape(self) -> tuple[Table, Kind, tuple[str, ...], tuple[str, ...]]:
        return self.table, self.kind, self.columns, self.key


class PendingWrites:
    """The rows a transaction will write when it commits, table by table, in the order they were added."""

    def __init__(self) -> None:
        self._writes: list[_Write] = []

    def insert(self, table: Table, rows: Iterable[Row]) -> None:
        """Insert `rows` (all with the same columns), in this order (a serial key follows it)."""
        self._add(table, "insert", rows)

    def insert_new(self, table: Table, rows: Iterable[Row]) -> None:
        """Insert `rows`, skipping each that a unique key already holds (or an earlier row of these)."""
        self._add(table, "insert_new", rows)

    def upsert(self, table: Table, rows: Iterable[Row], key: Sequence[str]) -> None:
        """Insert `rows`; a row whose `key` exists already replaces the stored one's other columns. Of rows
        with the same key added to one transaction, the last is written."""
        self._add(table, "upsert", rows, tuple(key))

    def _add(self, table: Table, kind: Kind, rows: Iterable[Row], key: tuple[str, ...] = ()) -> None:
        rows = list(rows)
        if not rows:
            return
        write = _Write(table, kind, tuple(rows[0]), key, rows)
        unknown = set(write.columns) - set(table.c.keys())
        if unknown:
            raise ValueError(f"{table.name} has no column {', '.join(sorted(unknown))}")
        columns = rows[0].keys()
        if any(row.keys() != columns for row in rows):  # a column left out would be written NULL
            raise ValueError(f"the rows for {table.name} do not all have the same columns")
        last = next((w for w in reversed(self._writes) if w.table is table), None)
        if last is not None and last.shape == write.shape:
            last.rows += rows
        else:
            self._writes.append(write)

    async def send(self, session: AsyncSession) -> int:
        """Write what was added, in as few statements as the order allows (usually one); how many rows
        were inserted or updated (not those skipped)."""
        writes, self._writes = self._writes, []
        written = 0
        for statement in _statements(writes):
            shapes = tuple(write.shape for write in statement)
            parameters = {f"w{i}": _json(_rows(write)) for i, write in enumerate(statement)}
            written += len((await session.execute(_sql(shapes), parameters)).all())
        return written


def pending_writes(session: AsyncSession) -> PendingWrites:
    """The writes of the session's transaction, sent just before it commits."""
    writes = session.info.get(_PENDING)
    if writes is None:
        writes = session.info[_PENDING] = PendingWrites()
        before_commit(session, _send)
    assert isinstance(writes, PendingWrites)
    return writes


_PENDING = "pending_writes"


async def _send(session: AsyncSession) -> None:
    await session.info.pop(_PENDING).send(session)


def _statements(writes: list[_Write]) -> list[list[_Write]]:
    """Consecutive writes grouped so that no table is written twice by one statement."""
    statements: list[list[_Write]] = []
    tables: set[Table] = set()
    for write in writes:
        if not statements or write.table in tables:
            statements.append([])
            tables = set()
        statements[-1].append(write)
        tables.add(write.table)
    return statements


def _rows(write: _Write) -> list[Row]:
    if write.kind != "upsert":
        return write.rows
    last = {tuple(row[name] for name in write.key): row for row in write.rows}
    return list(last.values())


@functools.lru_cache(maxsize=256)
def _sql(shapes: tuple[tuple[Table, Kind, tuple[str, ...], tuple[str, ...]], ...]) -> TextClause:
    ctes = ",\n".join(f"w{i} AS ({_cte(i, *shape)} RETURNING 1)" for i, shape in enumerate(shapes))
    # A row per row written: PostgreSQL's statistics (pg_stat_statements) count the rows a statement
    # returns, and would otherwise count none of those its CTEs wrote.
    written = " UNION ALL ".join(f"SELECT 1 FROM w{i}" for i in range(len(shapes)))
    return text(f"WITH {ctes}\n{written}")


def _cte(i: int, table: Table, kind: Kind, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    name = _quote(table.name)
    listed = ", ".join(_quote(column) for column in columns)
    sql = (
        f"INSERT INTO {name} ({listed}) SELECT {listed} "
        f"FROM jsonb_populate_recordset(NULL::{name}, CAST(:w{i} AS jsonb)) WITH ORDINALITY AS given "
        "ORDER BY given.ordinality"
    )
    if kind == "insert_new":
        return sql + " ON CONFLICT DO NOTHING"
    if kind == "upsert":
        others = [_quote(column) for column in columns if column not in key]
        target = ", ".join(_quote(column) for column in key)
        if not others:
            return sql + f" ON CONFLICT ({target}) DO NOTHING"
        changes = ", ".join(f"{column} = excluded.{column}" for column in others)
        return sql + f" ON CONFLICT ({target}) DO UPDATE SET {changes}"
    return sql


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _json(rows: list[Row]) -> str:
    # orjson writes UUIDs, dates and datetimes itself (a naive datetime as UTC), as PostgreSQL reads them;
    # subclasses, such as the UUIDs asyncpg reads, go through `_encode`.
    return orjson.dumps(rows, default=_encode, option=orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS).decode()


def _encode(value: Any) -> Any:
    """Values JSON has no type for, as PostgreSQL reads them from text."""
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    raise TypeError(f"cannot write a {type(value).__name__} through pending_writes")
