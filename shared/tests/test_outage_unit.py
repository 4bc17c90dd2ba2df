"""Which errors mean the database is out of reach (503, not ready) and which are the request's fault."""

from __future__ import annotations

import asyncpg.exceptions
import pytest
import sqlalchemy.exc

from dossierbus_shared.db.outage import database_unreachable


def wrapped(error: BaseException) -> sqlalchemy.exc.DBAPIError:
    """As SQLAlchemy raises a driver's error: a DBAPIError caused by it."""
    try:
        try:
            raise error
        except BaseException as cause:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, cause) from cause
    except sqlalchemy.exc.OperationalError as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),
        sqlalchemy.exc.TimeoutError("QueuePool limit reached"),
    ],
    ids=type,
)
def test_outages_are_unreachable_alone_or_wrapped(error: Exception) -> None:
    assert database_unreachable(error)
    assert database_unreachable(wrapped(error))


def test_a_cancelled_query_and_a_constraint_are_the_requests_fault() -> None:
    assert not database_unreachable(asyncpg.exceptions.QueryCanceledError("statement timeout"))
    assert not database_unreachable(wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")))


def test_a_socket_error_counts_only_when_the_driver_raised_it() -> None:
    # Raised by the application's own code (a file, another service): not the database's outage.
    try:
        raise FileNotFoundError(2, "No such file or directory")
    except FileNotFoundError as own:
        assert not database_unreachable(own)


async def test_the_socket_file_missing_is_unreachable(tmp_path: object) -> None:
    try:
        await asyncpg.connect(f"postgresql://postgres@/x?host={tmp_path}", timeout=5)
    except OSError as refused:
        assert database_unreachable(refused)
    else:
        raise AssertionError("connected to a socket that does not exist")
