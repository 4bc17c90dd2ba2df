"""A pooled connection the server dropped, as a database restart leaves it: for tests of what a service
does when it meets one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import event, text

from dossierbus_shared.db import Database

T = TypeVar("T")


@dataclass
class OnePooledConnection:
    """`db`: a schema's Database whose pool holds one connection, so that every call reuses it."""

    db: Database
    admin: Database
    invalidations: list[BaseException | None] = field(default_factory=list)
    """The errors for which the pool found its connection dead."""

    async def drop(self) -> None:
        """End the connection's backend on the server: `db`'s next call meets a dead connection."""
        async with self.db.transaction() as session:
            backend = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with self.admin.transaction() as session:
            ended = await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        if not ended.scalar():
            raise RuntimeError(f"the server did not end backend {backend}")

    async def each_after_a_drop(self, reads: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        """What each read returns when the connection was dropped just before it."""
        answers = []
        for read in reads:
            await self.drop()
            answers.append(await read())
        return answers


@asynccontextmanager
async def one_pooled_connection(database_url: str, schema: str) -> AsyncIterator[OnePooledConnection]:
    """`schema` on a pool of one connection; `database_url` is a superuser's, which ends it on `drop()`."""
    pooled = OnePooledConnection(
        Database(database_url, schema, pool_size=1), Database(database_url, "public", pool_size=1)
    )
    event.listen(
        pooled.db.engine.sync_engine.pool,
        "invalidate",
        lambda _record, _ref, error: pooled.invalidations.append(error),
    )
    try:
        yield pooled
    finally:
        await pooled.admin.dispose()
        await pooled.db.dispose()
