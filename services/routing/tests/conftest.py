"""Fixtures of routing's tests: the clock, routing's handlers in memory and on a database, and routing's
schema, migrated, on the session's PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import dossierbus_routing
from dossierbus_routing.domain import Context
from dossierbus_routing.entrypoints.events import EventHandlers
from dossierbus_routing.testing import SettableClock
from dossierbus_routing.unit_of_work import MemoryStore, RoutingUnitOfWork
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.db import Database
from dossierbus_shared.db.migrate import upgrade_async

MIGRATIONS = Path(dossierbus_routing.__file__).parent / "migrations"
MONDAY = datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
"""When the tests' dossiers arrive."""


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A schema of its own for each test, with routing's tables."""
    schema = f"routing_{uuid.uuid4().hex[:8]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    database = Database(database_url, schema)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> SettableClock:
    """Monday 2 March 2026, 9:00 in Hanoi, until the test moves it."""
    return SettableClock(MONDAY)


@pytest.fixture
def context(clock: SettableClock) -> Context:
    """The default catalogue, Vietnam's working calendar, agencies linking results on
    `ketqua.<agency>.gov.vn`, and the test's clock."""
    return Context(
        default_catalogue(),
        vietnam_calendar(),
        result_domains=lambda agency: [f"ketqua.{agency}.gov.vn"],
        clock=clock,
    )


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def handlers(context: Context, store: MemoryStore) -> EventHandlers:
    """Routing's handlers, their units of work the in-memory store's."""
    return EventHandlers(context, store.unit_of_work)


@pytest.fixture
def db_handlers(context: Context, db: Database) -> EventHandlers:
    """Routing's handlers, their units of work the test's database's."""
    return EventHandlers(context, lambda: db.unit_of_work(RoutingUnitOfWork))
