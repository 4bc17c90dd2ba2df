"""Writing many rows in one statement whose text does not depend on how many there are.

An executemany is one round trip, but PostgreSQL executes it once per row. These helpers make it one
statement without paying for it in Python: a statement whose SQL changes with the number of rows (a
literal multi-row VALUES) is compiled again on every call, which costs more CPU than the round trips it
saves. So:

- INSERTs go as an executemany that SQLAlchemy sends as one multi-row INSERT per 1,000 rows
  ("insertmanyvalues": compiled once, the VALUES list repeated in the SQL text); `Database` turns it on
  for plain INSERTs. Most inserts and upserts do not execute at all where they are decided: they wait
  for the commit with the transaction's other writes (`dossierbus_shared.db.writes`).
- UPDATEs of many rows each with its own values read them from `unnest()` of one array per column
  (`given_rows`): one statement, the same text for any number of rows, built once per shape.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, ColumnElement, Table, Text, Update, bindparam, cast, column, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import TableValuedAlias
from sqlalchemy.types import TypeEngine

Row = Mapping[str, Any]


async def update_rows(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Row],
    key: str,
    *,
    also: Mapping[str, Any] | None = None,
    where: ColumnElement[bool] | None = None,
) -> None:
    """Give each stored row whose `key` column equals one of `rows`' the other columns of that row (all
    rows with the same columns), and the values of `also` (the same for every row: values, or SQL
    expressions such as `func.now()`); only the stored rows that also meet `where`."""
    if not rows:
        return
    given = given_rows(table, tuple(rows[0]))
    changes: dict[str, Any] = {name: given.column(name) for name in given.names if name != key}
    parameters = given.parameters(rows)
    for name, value in (also or {}).items():
        if isinstance(value, ColumnElement):
            changes[name] = value
        else:
            changes[name] = bindparam(f"also_{name}", type_=table.c[name].type)
            parameters[f"also_{name}"] = value
    statement: Update = table.update().where(table.c[key] == given.column(key)).values(changes)
    await session.execute(statement if where is None else statement.where(where), parameters)


@dataclasses.dataclass(frozen=True)
class GivenRows:
    """`unnest(:given_a, :given_b, ...) AS given(a, b, ...)`: rows given as one array parameter per
    column. A JSON value travels as text (a list would otherwise be read as a dimension of the array)."""

    alias: TableValuedAlias
    names: tuple[str, ...]
    types: Mapping[str, TypeEngine[Any]]

    def column(self, name: str) -> ColumnElement[Any]:
        """The given value of a column, with the column's type."""
        type_ = self.types[name]
        return cast(self.alias.c[name], type_) if isinstance(type_, JSON) else self.alias.c[name]

    def parameters(self, rows: Sequence[Row]) -> dict[str, Any]:
        """The arrays: one list per column, the rows' values in order."""
        return {
            f"given_{name}": [_as_given(self.types[name], row[name]) for row in rows] for name in self.names
        }


@functools.lru_cache(maxsize=256)
def given_rows(
    table: Table, names: tuple[str, ...], extra: tuple[tuple[str, TypeEngine[Any]], ...] = ()
) -> GivenRows:
    """The rows of `names`, typed as `table`'s columns of these names, or as `extra` says for columns the
    table does not have; built once per shape."""
    declared = dict(extra)
    types = {name: declared[name] if name in declared else table.c[name].type for name in names}
    carried = {name: Text() if isinstance(type_, JSON) else type_ for name, type_ in types.items()}
    arrays = (bindparam(f"given_{name}", type_=ARRAY(type_)) for name, type_ in carried.items())
    columns = (column(name, type_) for name, type_ in carried.items())
    alias = func.unnest(*arrays).table_valued(*columns).render_derived(name="given")
    return GivenRows(alias, names, types)


def _as_given(type_: TypeEngine[Any], value: Any) -> Any:
    return json.dumps(value) if isinstance(type_, JSON) and value is not None else value
