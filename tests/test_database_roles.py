"""Each service reaches the database with a role of its own that can touch its own schema only, and the
registry's role can add to the access log but never change, remove or empty it. On the stack's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from dossierbus_devstack.database import asyncpg_dsn
from dossierbus_devstack.stack import DevStack
from dossierbus_shared.db.roles import SERVICES_WITH_DATABASE

pytestmark = pytest.mark.slow


@asynccontextmanager
async def connected_as(
    stack: DevStack, service: str, which: str = "DATABASE_URL"
) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(stack.database_roles[service][which]))
    try:
        yield connection
    finally:
        await connection.close()


async def test_the_services_connect_with_their_own_roles(stack: DevStack) -> None:
    async with stack.database() as admin:
        users = {row["usename"] for row in await admin.fetch("SELECT usename FROM pg_stat_activity")}
        superusers = {
            row["rolname"] for row in await admin.fetch("SELECT rolname FROM pg_roles WHERE rolsuper")
        }
    assert set(SERVICES_WITH_DATABASE) <= users
    for service in SERVICES_WITH_DATABASE:
        assert stack.database_roles[service]["DATABASE_URL"].split("://", 1)[1].startswith(f"{service}:")
        async with connected_as(stack, service) as connection:
            assert await connection.fetchval("SELECT current_user") == service
            assert service not in superusers


@pytest.mark.parametrize("service", SERVICES_WITH_DATABASE)
async def test_a_service_role_reads_its_own_schema_and_no_other(stack: DevStack, service: str) -> None:
    async with connected_as(stack, service) as connection:
        assert await connection.fetchval(f"SELECT count(*) FROM {service}.outbox") >= 0
        for other in SERVICES_WITH_DATABASE:
            if other == service:
                continue
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.fetchval(f"SELECT count(*) FROM {other}.outbox")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(f"DELETE FROM {other}.inbox")
        # Nor can it change what its tables are, or make new ones anywhere.
        for statement in (
            f"CREATE TABLE {service}.extra (id int)",
            "CREATE TABLE public.extra (id int)",
            "CREATE SCHEMA extra",
            f"ALTER TABLE {service}.outbox ADD COLUMN extra int",
            f"TRUNCATE {service}.inbox",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(statement)


async def test_the_registry_role_adds_to_the_access_log_but_cannot_change_remove_or_empty_it(
    stack: DevStack,
) -> None:
    async with connected_as(stack, "registry") as connection:
        adding = connection.transaction()
        await adding.start()
        try:
            await connection.execute(
                """INSERT INTO access_log (subject, seq, at, agency_code, procedure_code, fields, outcome,
                                           prev_hash, hash)
                   VALUES ('role-test', 1, now(), 'a', 'p', '{}', 'allowed', 'x', 'y')"""
            )
            assert (
                await connection.fetchval("SELECT count(*) FROM access_log WHERE subject = 'role-test'") == 1
            )
        finally:
            await adding.rollback()  # the test leaves no entry behind
        for statement in (
            "UPDATE access_log SET outcome = 'denied'",
            "DELETE FROM access_log",
            "TRUNCATE access_log",
            "ALTER TABLE access_log DISABLE TRIGGER USER",
            "DROP TRIGGER access_log_append_only ON access_log",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(statement)
    async with stack.database() as admin:
        assert (
            await admin.fetchval("SELECT count(*) FROM registry.access_log WHERE subject = 'role-test'") == 0
        )


async def test_only_the_registry_role_makes_temporary_tables(stack: DevStack) -> None:
    # The registry loads national data (on every start with SEED_CITIZENS) by COPY into a temporary table.
    async with connected_as(stack, "registry") as connection:
        await connection.execute("CREATE TEMP TABLE loading (id int) ON COMMIT DROP")
    async with connected_as(stack, "routing") as connection:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("CREATE TEMP TABLE loading (id int) ON COMMIT DROP")
