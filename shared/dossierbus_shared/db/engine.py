from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

from sqlalchemy import MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from dossierbus_shared.db.statements import count_statements

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata() -> MetaData:
    """The metadata of one service's own tables: two services may each have a table of the same name
    (both live in one process in tests and tools)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


# Tables carry no schema: the connection's search_path puts each service in its own schema, so the
# shared outbox and inbox tables exist once per service without being declared once per service.
metadata = service_metadata()


def async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs too; the services always talk asyncpg."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


_BEFORE_COMMIT, _AFTER_COMMIT = "before_commit", "after_commit"


def before_commit(session: AsyncSession, hook: Callable[[AsyncSession], Awaitable[None]]) -> None:
    """Run `hook` at the end of the transaction, just before it commits (as the last of its work)."""
    _hooks(session, _BEFORE_COMMIT).append(hook)


def after_commit(session: AsyncSession, hook: Callable[[], None]) -> None:
    """Run `hook` once the transaction has committed, never if it rolls back: for effects outside the
    database, such as metrics, that must not count work a rollback undid."""
    _hooks(session, _AFTER_COMMIT).append(hook)


def session_schema(session: AsyncSession) -> str:
    """The schema of the service whose transaction this is."""
    schema = session.info.get("schema")
    if not schema:
        raise RuntimeError("session has no schema; open it with Database.transaction()")
    return str(schema)


def _hooks(session: AsyncSession, when: str) -> list[Any]:
    session_schema(session)
    hooks: list[Any] = session.info.setdefault(when, [])
    return hooks


T = TypeVar("T")


async def one_snapshot(session: AsyncSession) -> None:
    """Make the transaction read one snapshot (REPEATABLE READ), for a view read in several statements:
    under READ COMMITTED a commit between them shows in the later reads only (a dossier's status behind
    its timeline, an access log's head past its entries). Call it before the transaction's first statement."""
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def retry_dropped_connection(work: Callable[[], Awaitable[T]]) -> T:
    """`work()`, run once more if it failed on a connection that turned out to be dead (the database
    restarted since the pool last used it): the second run gets a fresh connection. A database that is
    away fails the second run too, as an outage. `work` opens its own transactions and must be safe to
    run twice (a lost answer to its COMMIT leaves it unknown whether the first run committed)."""
    try:
        return await work()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    return await work()


class Flushes(Protocol):
    async def flush(self) -> None: ...


W = TypeVar("W", bound=Flushes)


class Database:
    """An engine bound to one service's schema, and the transactions on it."""

    def __init__(self, url: str, schema: str, *, pool_size: int = 10, pool_timeout_s: float = 5.0) -> None:
        self.schema = schema
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            # A bounded wait: when every connection is busy a request fails fast (sqlalchemy.exc.
            # TimeoutError, answered 503 with Retry-After) instead of queueing for minutes.
            pool_timeout=pool_timeout_s,
            # No ping before each use (three round trips with asyncpg): a connection the server dropped
            # while it idled in the pool fails on first use instead, which invalidates the whole pool;
            # consumers treat that as an outage and retry, HTTP use cases `retry_dropped_connection`.
            # Statements' parameters are citizens' data: never in exception messages (and so in logs).
            hide_parameters=True,
            connect_args={
                "server_settings": {"search_path": schema},
                # Each statement text is prepared once per connection and kept (SQLAlchemy's default
                # keeps 100): a batch's text varies with its number of rows and IN-list values, and a
                # statement prepared again costs a round trip.
                "prepared_statement_cache_size": 1000,
            },
        )
        # A plain INSERT of many rows as one multi-row statement, not one execution per row
        # (dossierbus_shared.db.rows does the same for INSERTs with ON CONFLICT).
        self.engine.sync_engine.dialect.use_insertmanyvalues_wo_returning = True
        count_statements(self.engine, schema)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success (between its `before_commit` and `after_commit` hooks),
        rolls back on any error."""
        async with self.sessions() as session:
            async with session.begin():
                session.info["schema"] = self.schema
                yield session
                # A hook may register another (pending writes added after theirs were sent): run until
                # none is left.
                while hooks := session.info.pop(_BEFORE_COMMIT, []):
                    for hook in hooks:
                        await hook(session)
            for after in session.info.pop(_AFTER_COMMIT, []):
                after()

    @asynccontextmanager
    async def unit_of_work(self, factory: Callable[[AsyncSession], W]) -> AsyncIterator[W]:
        """A transaction as a unit of work (`dossierbus_shared.unit_of_work`): flushed before it commits."""
        async with self.transaction() as session:
            work = factory(session)
            yield work
            await work.flush()

    async def dispose(self) -> None:
        await self.engine.dispose()
