"""A schema of its own for a test's tables, made from a `MetaData` and dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData, text

from dossierbus_shared.db import Database


@asynccontextmanager
async def scratch_schema(database_url: str, metadata: MetaData, prefix: str) -> AsyncIterator[Database]:
    """A `Database` on a new schema named `<prefix>_<random>` that holds `metadata`'s tables."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    database = Database(database_url, schema)
    async with database.engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        await connection.execute(text(f'SET search_path TO "{schema}"'))
        await connection.run_sync(metadata.create_all)
    try:
        yield database
    finally:
        async with database.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await database.dispose()
