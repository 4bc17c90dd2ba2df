"""Which errors are outages (a dependency away: the record keeps its tries, the request gets a 503) and
which are the record's or the request's own."""

from __future__ import annotations

import asyncpg
import asyncpg.exceptions
import httpx
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, RecordTooLargeError
from sqlalchemy import exc as sa

from dossierbus_shared.consumer import PermanentError
from dossierbus_shared.outages import is_outage


def raised_from(error: BaseException, cause: BaseException) -> BaseException:
    try:
        raise error from cause
    except BaseException as caught:
        return caught


def postgres_error(sqlstate: str) -> BaseException:
    """A PostgreSQL error as SQLAlchemy hands it on: its own error, raised from asyncpg's."""
    original = asyncpg.PostgresError.get_message_class_for_sqlstate(sqlstate)("from the server")
    return raised_from(sa.DBAPIError("SELECT 1", {}, Exception(str(original))), original)


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError(),
        postgres_error("57P01"),  # admin shutdown
        postgres_error("57P03"),  # the database system is starting up
        postgres_error("08006"),  # connection failure
        postgres_error("53300"),  # too many connections
        sa.InterfaceError("COMMIT", {}, Exception("the underlying connection is closed")),
        sa.OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        raised_from(RuntimeError("wrapped"), asyncpg.exceptions.ConnectionDoesNotExistError("gone")),
        KafkaConnectionError("no broker"),
        KafkaTimeoutError(),
        httpx.ConnectError("registry unreachable"),
        httpx.ReadTimeout("registry too slow"),
    ],
    ids=repr,
)
def test_outages(error: BaseException) -> None:
    assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("step 13 cannot be applied"),
        PermanentError("report for unknown dossier"),
        KeyError("status"),
        postgres_error("23505"),  # unique violation: the record's own doing
        postgres_error("22P02"),  # invalid text representation
        postgres_error("57014"),  # statement timeout: a query this record made too heavy
        RecordTooLargeError(),
    ],
    ids=repr,
)
def test_errors_of_the_record(error: BaseException) -> None:
    assert not is_outage(error)


def wrapped(error: BaseException) -> sa.DBAPIError:
    """As SQLAlchemy raises a driver's error: a DBAPIError caused by it."""
    try:
        try:
            raise error
        except BaseException as cause:
            raise sa.OperationalError("SELECT 1", {}, cause) from cause
    except sa.OperationalError as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),
        sa.TimeoutError("QueuePool limit reached"),
    ],
    ids=type,
)
def test_outages_are_unreachable_alone_or_wrapped(error: Exception) -> None:
    assert is_outage(error)
    assert is_outage(wrapped(error))


def test_a_cancelled_query_and_a_constraint_are_the_requests_fault() -> None:
    assert not is_outage(asyncpg.exceptions.QueryCanceledError("statement timeout"))
    assert not is_outage(wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")))


def test_a_socket_error_counts_only_when_the_driver_raised_it() -> None:
    # Raised by the application's own code (a file, another service): not the database's outage.
    try:
        raise FileNotFoundError(2, "No such file or directory")
    except FileNotFoundError as own:
        assert not is_outage(own)


async def test_the_socket_file_missing_is_unreachable(tmp_path: object) -> None:
    try:
        await asyncpg.connect(f"postgresql://postgres@/x?host={tmp_path}", timeout=5)
    except OSError as refused:
        assert is_outage(refused)
    else:
        raise AssertionError("connected to a socket that does not exist")
