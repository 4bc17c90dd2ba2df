"""Exceptions described without their messages, for logs and answers that must not carry payload values.

A database error's message quotes what it could not store (`invalid input syntax for type date:
"Nguyễn Thị Lan"`, `Key (personal_id)=(001090000001) already exists`), and so do many others; what an
operator needs to find the fault is the kind of error and where it was raised, not the values.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator

import asyncpg.exceptions
import sqlalchemy.exc


def chain(error: BaseException) -> Iterator[BaseException]:
    """`error` and the exceptions it was raised from or while handling, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def outline(error: BaseException) -> str:
    """A traceback of `error` and its chain with types, files, lines and functions, and no message."""
    parts = []
    for link in reversed(list(chain(error))):
        frames = "".join(traceback.format_list(traceback.extract_tb(link.__traceback__)))
        parts.append(f"Traceback (most recent call last):\n{frames}{type_name(link)} (message withheld)")
    return "\n\nwhich caused:\n\n".join(parts)


def is_database_error(error: BaseException) -> bool:
    """Whether the database had a part in `error` (so its messages may quote stored values)."""
    return any(
        isinstance(link, sqlalchemy.exc.SQLAlchemyError | asyncpg.exceptions.PostgresError)
        for link in chain(error)
    )
