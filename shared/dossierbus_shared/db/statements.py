"""`dossierbus_db_statements_total`: what a service asks of PostgreSQL, one count per round trip.

Counted from SQLAlchemy's engine events, so every statement the service's `Database` sends is counted,
whichever code sends it; work done on the raw driver connection (LISTEN, COPY) is not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

STATEMENTS = Counter(
    "dossierbus_db_statements",
    "Statements sent to PostgreSQL, by service (its database schema) and kind: select, insert, update, "
    "delete, other (by the statement's first keyword, or a WITH statement's first CTE that writes), begin, "
    "commit, rollback",
    ["service", "kind"],
)

_DML = frozenset({"select", "insert", "update", "delete"})
_TRANSACTION_EVENTS = ("begin", "commit", "rollback")


def statement_kind(statement: str) -> str:
    """`select`, `insert`, `update` or `delete` by the statement's first keyword, or for a WITH statement
    whose first CTE writes, by that CTE's (a transaction's pending writes are one such INSERT); `other`
    for the rest (other WITH statements, DDL, SET, ...)."""
    writing = _WRITING_CTE.match(statement)
    if writing:
        return writing.group(1).lower()
    words = statement.lstrip(" \t\r\n(").split(None, 1)
    first = words[0].lower() if words else ""
    return first if first in _DML else "other"


_WRITING_CTE = re.compile(r'\s*WITH\s+(?:RECURSIVE\s+)?"?\w+"?\s+AS\s+\(\s*(INSERT|UPDATE|DELETE)\b', re.I)


def count_statements(engine: AsyncEngine, service: str) -> None:
    """Count in STATEMENTS every statement `engine` executes (an executemany once: one round trip) and
    every transaction it begins, commits or rolls back."""

    def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        STATEMENTS.labels(service, statement_kind(statement)).inc()

    event.listen(engine.sync_engine, "before_cursor_execute", executed)
    for kind in _TRANSACTION_EVENTS:
        event.listen(engine.sync_engine, kind, _counting(STATEMENTS.labels(service, kind)))


def _counting(counter: Counter) -> Callable[..., None]:
    def count(*_: Any) -> None:
        counter.inc()

    return count
