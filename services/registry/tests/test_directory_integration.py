"""The agency directory, which every service reads every few seconds, is served over a pooled connection
the database dropped (as a restart leaves it) as over any other."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import event, text

import dossierbus_registry
from dossierbus_registry.agencies import AgencyCatalogue
from dossierbus_registry.entrypoints.agencies import directory, directory_entry
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.db import Database
from dossierbus_shared.db.migrate import upgrade_async

MIGRATIONS = Path(dossierbus_registry.__file__).parent / "migrations"


async def test_the_directory_is_read_over_a_pooled_connection_the_server_dropped(database_url: str) -> None:
    schema = f"registry_{uuid.uuid4().hex[:8]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    db = Database(database_url, schema, pool_size=1)  # one connection, reused by every call below
    admin = Database(database_url, "public", pool_size=1)
    dropped: list[BaseException | None] = []
    event.listen(db.engine.sync_engine.pool, "invalidate", lambda _c, _r, error: dropped.append(error))
    catalogue = AgencyCatalogue(db, kafka_bootstrap="127.0.0.1:9")  # no broker needed to read
    try:
        await catalogue.load_catalogue_file(default_catalogue())
        for read in (lambda: directory(catalogue), lambda: directory_entry("justice-hanoi", catalogue)):
            async with db.transaction() as session:
                pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with admin.transaction() as session:
                assert (
                    await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                ).scalar()
            assert await read()
    finally:
        await admin.dispose()
        await db.dispose()

    assert len(dropped) == 2, "each first try met the dead connection; each second had a fresh one"
