"""Telling an outage from a fault: an error that says a dependency (the database, the broker, a peer
service over the network) is away or overloaded is no fault of the request or record at hand. A consumer
keeps the record's tries and waits until the dependency is back, instead of dead-lettering it; an HTTP
request is answered 503 with Retry-After, and readiness says not ready, instead of a 500.
"""

from __future__ import annotations

import traceback

import asyncpg
import httpx
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from sqlalchemy import exc as sa

from dossierbus_shared.safe_errors import chain

# PostgreSQL error classes and codes that mean "the server is away or cannot take work now":
# 08 connection exception, 53 insufficient resources (disk full, out of memory, too many connections),
# 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting up, in recovery).
# Not 57014 (a statement timeout): that is the query's own doing.
_OUTAGE_SQLSTATE_CLASSES = ("08", "53")
_OUTAGE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})

RETRIED_4XX = frozenset({401, 403, 408, 425, 429})
"""The 4xx answers of an outside API (the national portal, the payment platform) that are no refusal of
the request itself: our credentials refused (401, 403: a configuration fault), a timeout (408), too early
(425), too many requests (429). Asked again later; any other 4xx refuses the request for good."""

_CLIENTS = ("asyncpg", "sqlalchemy", "aiokafka", "httpx", "httpcore", "anyio")
"""Libraries whose socket errors (refused, reset, a Unix socket missing while PostgreSQL restarts) are
the dependency's outage; the same error raised by the application's own code (a file it opens) is not."""


def is_outage(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, says a dependency is unavailable for now. Where the
    database said why (a SQLSTATE), that decides, whatever class a wrapper gave it."""
    links = list(chain(error))
    for link in links:
        sqlstate = getattr(link, "sqlstate", None)
        if isinstance(sqlstate, str):
            return sqlstate in _OUTAGE_SQLSTATES or sqlstate[:2] in _OUTAGE_SQLSTATE_CLASSES
    return any(_is_outage_itself(link) for link in links)


def _is_outage_itself(error: BaseException) -> bool:
    if isinstance(error, TimeoutError):
        return True
    if isinstance(error, OSError):
        return _raised_by_client(error)
    if isinstance(error, sa.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa.InterfaceError | sa.OperationalError | sa.TimeoutError | sa.DisconnectionError):
        return True
    if isinstance(error, KafkaConnectionError | KafkaTimeoutError):
        return True
    if isinstance(error, KafkaError) and error.retriable:
        return True
    if isinstance(error, httpx.TransportError):
        return True
    # asyncpg's own connection errors (e.g. the connection closed mid-query) carry no SQLSTATE.
    return isinstance(error, asyncpg.exceptions.InterfaceError)


def _raised_by_client(error: BaseException) -> bool:
    return any(
        str(frame.f_globals.get("__name__", "")).startswith(_CLIENTS)
        for frame, _ in traceback.walk_tb(error.__traceback__)
    )
