"""The agency directory, which every service reads every few seconds (and agencies and notifications
authenticate through), is read over a pooled connection the database dropped (as a restart leaves it)
as over any other."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import dossierbus_registry
from dossierbus_devstack.dropped import one_pooled_connection
from dossierbus_registry.adapters.population import ReferenceNationalDatabases
from dossierbus_registry.agencies import AgencyCatalogue
from dossierbus_registry.consents import Consents
from dossierbus_registry.domain.access_log import ChainKey
from dossierbus_registry.entrypoints.agencies import directory, directory_entry
from dossierbus_registry.entrypoints.auth import RegistryCaller
from dossierbus_registry.entrypoints.citizens import once_only, refused_to_reader
from dossierbus_registry.entrypoints.roles import Role
from dossierbus_registry.unit_of_work import RegistryUnitOfWork
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.db.migrate import upgrade_async

MIGRATIONS = Path(dossierbus_registry.__file__).parent / "migrations"
AUDITOR = RegistryCaller(Role.AUDITOR, "auditor", token="")


async def test_the_directory_is_read_over_a_pooled_connection_the_server_dropped(database_url: str) -> None:
    schema = f"registry_{uuid.uuid4().hex[:8]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    async with one_pooled_connection(database_url, schema) as pooled:
        catalogue = AgencyCatalogue(pooled.db, kafka_bootstrap="127.0.0.1:9")  # no broker needed to read
        await catalogue.load_catalogue_file(default_catalogue())
        reads = (
            lambda: directory(catalogue),
            lambda: directory_entry("justice-hanoi", catalogue),
            lambda: catalogue.webhook_secret("justice-hanoi"),  # notifications, signing a webhook
            lambda: catalogue.by_token("not-a-token"),  # an agency calling with its token
        )
        answers: list[Any] = await pooled.each_after_a_drop(reads)

    assert len(pooled.invalidations) == 4, "each first try met the dead connection; each second a fresh one"
    listed, entry, secret, agency = answers
    assert listed["agencies"] and entry["code"] == "justice-hanoi"
    assert secret is None and agency is None  # none issued by a catalogue file; no agency holds that token


async def test_the_access_log_consents_and_once_only_rate_are_read_over_a_dropped_pooled_connection(
    database_url: str,
) -> None:
    schema = f"registry_{uuid.uuid4().hex[:8]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    key = ChainKey(b"dropped-connection-test-key-0123456789")
    async with one_pooled_connection(database_url, schema) as pooled:
        national = ReferenceNationalDatabases(pooled.db)

        def unit_of_work() -> AbstractAsyncContextManager[RegistryUnitOfWork]:
            return pooled.db.unit_of_work(
                lambda session: RegistryUnitOfWork.in_database(
                    session, catalogue=default_catalogue(), national=national, key=key
                )
            )

        reads = (
            lambda: refused_to_reader("justice-hanoi", AUDITOR, unit_of_work, key),
            lambda: once_only(unit_of_work),
            lambda: Consents(unit_of_work, key).of("001085123456"),
        )
        answers: list[Any] = await pooled.each_after_a_drop(reads)

    assert len(pooled.invalidations) == 3, "each first try met the dead connection; each second a fresh one"
    log, rate, consents = answers
    assert log["entries"] == [] and log["chain"]["intact"]
    assert rate["procedures"] == [] and consents == []
