"""Fixtures of routing's tests that need a database: routing's schema, migrated, on the session's
PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import dossierbus_routing
from dossierbus_shared.db import Database
from dossierbus_shared.db.migrate import upgrade_async

MIGRATIONS = Path(dossierbus_routing.__file__).parent / "migrations"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A schema of its own for each test, with routing's tables."""
    schema = f"routing_{uuid.uuid4().hex[:8]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    database = Database(database_url, schema)
    yield database
    await database.dispose()
