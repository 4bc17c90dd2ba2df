"""The agency directory, which every service reads every few seconds, is served over a pooled connection
the database dropped (as a restart leaves it) as over any other."""

from __future__ import annotations

import uuid
from pathlib import Path

import dossierbus_registry
from dossierbus_devstack.dropped import one_pooled_connection
from dossierbus_registry.agencies import AgencyCatalogue
from dossierbus_registry.entrypoints.agencies import directory, directory_entry
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.db.migrate import upgrade_async

MIGRATIONS = Path(dossierbus_registry.__file__).parent / "migrations"


async def test_the_directory_is_read_over_a_pooled_connection_the_server_dropped(database_url: str) -> None:
    schema = f"registry_{uuid.uuid4().hex[:8]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    async with one_pooled_connection(database_url, schema) as pooled:
        catalogue = AgencyCatalogue(pooled.db, kafka_bootstrap="127.0.0.1:9")  # no broker needed to read
        await catalogue.load_catalogue_file(default_catalogue())
        for read in (lambda: directory(catalogue), lambda: directory_entry("justice-hanoi", catalogue)):
            await pooled.drop()
            assert await read()

    assert len(pooled.invalidations) == 2, "each first try met the dead connection; each second a fresh one"
