"""Whether an error means the database cannot be reached now (stopped, restarting, its socket gone, the
network down, every connection busy): a fault of the moment, answered 503 with Retry-After and reported
by readiness, not a fault of the request (500)."""

from __future__ import annotations

import traceback

import asyncpg.exceptions
import sqlalchemy.exc

from dossierbus_shared.safe_errors import chain

_UNREACHABLE = (
    asyncpg.exceptions.PostgresConnectionError,  # the connection broke or was refused (class 08)
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, crashed, not yet accepting (57P0x)
    asyncpg.exceptions.TooManyConnectionsError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection free in time
)
_DRIVERS = ("asyncpg", "sqlalchemy")


def _raised_by_driver(error: BaseException) -> bool:
    return any(
        str(frame.f_globals.get("__name__", "")).startswith(_DRIVERS)
        for frame, _ in traceback.walk_tb(error.__traceback__)
    )


def database_unreachable(error: BaseException) -> bool:
    """True when `error` (or what caused it) says the database is out of reach for now. A socket error
    (connection refused, socket file missing, reset, timed out) counts when the database driver raised
    it; a query that cancelled itself (statement timeout) does not: that is the query's fault."""
    for link in chain(error):
        if isinstance(link, _UNREACHABLE) and not isinstance(link, asyncpg.exceptions.QueryCanceledError):
            return True
        if isinstance(link, sqlalchemy.exc.DBAPIError) and link.connection_invalidated:
            return True
        if isinstance(link, OSError) and _raised_by_driver(link):
            return True
    return False
