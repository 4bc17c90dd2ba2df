"""The registry's composition root: every part made once, from the settings, and wired together."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.access_log import seal_unkeyed_chains
from dossierbus_registry.adapters.national import national_databases
from dossierbus_registry.agencies import AgencyCatalogue
from dossierbus_registry.consents import Consents
from dossierbus_registry.domain.access_log import ChainKey
from dossierbus_registry.entrypoints import agencies, citizens, consents, lookups
from dossierbus_registry.entrypoints.dependencies import Components
from dossierbus_registry.entrypoints.events import CONSUMES, INBOX_TOPICS, PRODUCES, EventHandlers
from dossierbus_registry.lookups import Lookups
from dossierbus_registry.seeding import seed
from dossierbus_registry.settings import RegistrySettings
from dossierbus_registry.unit_of_work import RegistryUnitOfWork
from dossierbus_shared.catalogue import Catalogue, default_catalogue
from dossierbus_shared.events import agency_topics
from dossierbus_shared.service import Service, ServiceApp, StartupError

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: RegistrySettings | None = None, catalogue: Catalogue | None = None) -> ServiceApp:
    settings = settings or RegistrySettings()
    catalogue = catalogue or default_catalogue()
    key = ChainKey.from_setting(settings.access_log_key)

    def unit_of_work(session: AsyncSession) -> RegistryUnitOfWork:
        return RegistryUnitOfWork.in_database(
            session, catalogue=catalogue, national=national.databases, key=key
        )

    # The agencies' inboxes tell which agency holds which step of which dossier (purpose binding).
    inboxes = [agency_topics(code)[0] for code in sorted(catalogue.agencies)]
    service = Service(
        settings,
        migrations=MIGRATIONS,
        consumes=[*CONSUMES, *inboxes],
        consumes_matching=INBOX_TOPICS,
        produces=PRODUCES,
        unit_of_work=unit_of_work,
    )
    # Made after the service, whose connection pool the reference databases share; the units of work
    # that use it are opened only once the service runs.
    national = national_databases(settings, service.db)
    if national.listener is not None:
        service.background(national.listener.run)
    if national.gateway is not None:
        service.on_shutdown(national.gateway.aclose)
    EventHandlers(catalogue).register(service.consumer)
    agency_catalogue = AgencyCatalogue(
        service.db,
        settings.kafka_bootstrap_servers,
        service.kafka_security,
        topic_partitions=settings.kafka_topic_partitions,
    )

    @service.on_startup
    async def load_reference_data() -> None:
        if key.secret is None:
            raise StartupError("registry: set ACCESS_LOG_KEY (32+ bytes): the access log is keyed with it")
        await seal_unkeyed_chains(service.db, key)
        await agency_catalogue.load_catalogue_file(catalogue)
        if settings.seed_citizens:
            await seed(service.db, settings.seed_citizens, settings.seed_enterprises)

    components = Components(
        settings=settings,
        key=key,
        agencies=agency_catalogue,
        lookups=Lookups(service.unit_of_work, catalogue, key),
        consents=Consents(service.unit_of_work, key),
        unit_of_work=service.unit_of_work,
    )
    app = service.http_app(
        agencies.router, lookups.router, consents.router, citizens.router, title="dossierbus registry"
    )
    app.state.components = components
    return ServiceApp(service, app)
