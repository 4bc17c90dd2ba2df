"""What a block of a test sends to PostgreSQL through a `Database`: how many statements and transactions
(`counting`), or which statements (`statements`). An executemany is one statement: one round trip.

    with counting(db) as submitting:
        await submissions.submit(request, key)
    assert submitting == {"statements": 3, "transactions": 1}
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from dossierbus_shared.db import Database


@contextmanager
def counting(db: Database) -> Iterator[Counter[str]]:
    """`statements` sent and `transactions` ended (committed or rolled back) while the block runs."""
    seen: Counter[str] = Counter()

    def statement(*_: Any) -> None:
        seen["statements"] += 1

    def ended(*_: Any) -> None:
        seen["transactions"] += 1

    with _listening(db, before_cursor_execute=statement, commit=ended, rollback=ended):
        yield seen


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The statements sent while the block runs, each as "<verb> <first table>" ("INSERT outbox"; "SELECT -"
    when it names no table); a transaction's pending writes (`dossierbus_shared.db.writes`) as "WRITE" and
    the tables written, in order ("WRITE dossiers steps outbox")."""
    seen: list[str] = []

    def sent(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith(_PENDING_WRITES):
            seen.append(" ".join(["WRITE", *re.findall(r'AS \(INSERT INTO "?(\w+)', statement)]))
            return
        table = re.search(r'\b(?:INTO|FROM)\s+"?(\w+)', statement)
        seen.append(" ".join([statement.split(None, 1)[0], table.group(1) if table else "-"]))

    with _listening(db, before_cursor_execute=sent):
        yield seen


_PENDING_WRITES = "WITH w0 AS (INSERT INTO"


@contextmanager
def _listening(db: Database, **listeners: Callable[..., None]) -> Iterator[None]:
    """The engine's events named (`before_cursor_execute`, `commit`, ...) heard by their listeners while the
    block runs."""
    engine = db.engine.sync_engine
    for name, listener in listeners.items():
        event.listen(engine, name, listener)
    try:
        yield
    finally:
        for name, listener in listeners.items():
            event.remove(engine, name, listener)
