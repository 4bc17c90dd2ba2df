"""Telling an outage from a bad record: an error that says a dependency (the database, the broker, a peer
service over the network) is away or overloaded is no fault of the record being processed, so it must not
use up the record's tries nor send it to the dead-letter queue; the consumer waits and tries again until
the dependency is back.
"""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from sqlalchemy import exc as sa

# PostgreSQL error classes and codes that mean "the server is away or cannot take work now":
# 08 connection exception, 53 insufficient resources (disk full, out of memory, too many connections),
# 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting up, in recovery).
_OUTAGE_SQLSTATE_CLASSES = ("08", "53")
_OUTAGE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def is_outage(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, says a dependency is unavailable."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_outage_itself(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_outage_itself(error: BaseException) -> bool:
    # Connection refused or reset, the database's Unix socket missing while it restarts, timeouts.
    if isinstance(error, OSError | asyncio.TimeoutError):
        return True
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
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate in _OUTAGE_SQLSTATES or sqlstate[:2] in _OUTAGE_SQLSTATE_CLASSES
    # asyncpg's own connection errors (e.g. the connection closed mid-query) carry no SQLSTATE.
    return isinstance(error, asyncpg.exceptions.InterfaceError)
