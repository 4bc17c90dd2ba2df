"""Shared Alembic environment: creates the service's schema and migrates inside it."""

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config
schema: str = config.attributes["schema"]


def run(connection: Connection) -> None:
    # Only when missing: creating a schema needs CREATE on the database, which a service's role lacks
    # (see dossierbus_shared.db.roles: the schema is made, and owned, by its owner role).
    if (
        connection.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first()
        is None
    ):
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    connection.execute(text(f'SET search_path TO "{schema}"'))
    context.configure(connection=connection, version_table_schema=schema, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


async def main() -> None:
    engine = create_async_engine(config.attributes["database_url"])
    try:
        async with engine.begin() as connection:
            # Serialise concurrent start-ups of the same service on one database.
            await connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
            await connection.run_sync(run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
asyncio.run(main())
