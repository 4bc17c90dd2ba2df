"""Which errors are outages (a dependency away: the record keeps its tries) and which are the record's."""

from __future__ import annotations

import asyncpg
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
        FileNotFoundError(2, "No such file or directory"),  # the database's Unix socket, while it restarts
        ConnectionRefusedError(111, "Connection refused"),
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
