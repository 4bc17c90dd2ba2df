"""LISTEN on a PostgreSQL channel for as long as a service runs (the registry's lookup cache forgets the
records a NOTIFY names; a consumer learns that its group has parked records). Each listener has a connection
of its own, outside the pool, whose connections must not carry a LISTEN to whoever borrows them next; a
lost connection is made again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import NoReturn

import asyncpg
from sqlalchemy.engine import make_url

from dossierbus_shared.db.engine import Database
from dossierbus_shared.outages import is_outage

log = logging.getLogger(__name__)


def _unheeded(_listening: bool) -> None:
    pass


async def listen(
    db: Database,
    channel: str,
    notice: Callable[[str], None],
    *,
    listening: Callable[[bool], None] = _unheeded,
    reconnect_s: float = 1.0,
) -> NoReturn:
    """Call `notice(payload)` for each NOTIFY on `channel` until cancelled. `listening(True)` once LISTEN
    is in effect, `listening(False)` once its connection is lost: a NOTIFY sent in between is never
    received, so whoever relies on them catches up when listening (again). A connection refused or lost is
    tried again every `reconnect_s`."""
    dsn = make_url(db.engine.url.render_as_string(hide_password=False)).set(drivername="postgresql")
    while True:
        try:
            await _listen_once(dsn.render_as_string(hide_password=False), channel, notice, listening)
            log.warning("LISTEN %s lost its connection, listening again in %gs", channel, reconnect_s)
        except Exception as error:
            log.warning(
                "LISTEN %s failed, trying again in %gs: %s",
                channel,
                reconnect_s,
                error,
                exc_info=not is_outage(error),
            )
        await asyncio.sleep(reconnect_s)


async def _listen_once(
    dsn: str, channel: str, notice: Callable[[str], None], listening: Callable[[bool], None]
) -> None:
    """Listen until the connection is lost."""
    connection = await asyncpg.connect(dsn)
    try:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(channel, lambda _connection, _pid, _channel, payload: notice(payload))
        listening(True)
        try:
            await lost.wait()
        finally:
            listening(False)
    finally:
        connection.terminate()  # nothing to finish on a connection that only listens
