"""Registry service: `uvicorn dossierbus_registry.app:app`."""

from pathlib import Path

from dossierbus_registry import access_log, assignments
from dossierbus_registry.agencies import AgencyCatalogue
from dossierbus_registry.consents import Consents
from dossierbus_registry.entrypoints import agencies, citizens, consents, lookups
from dossierbus_registry.lookups import Lookups
from dossierbus_registry.national import national_databases
from dossierbus_registry.seeding import seed
from dossierbus_registry.settings import RegistrySettings
from dossierbus_registry.verification import Verification
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import (
    DossierAssigned,
    DossierStatusChanged,
    DossierStepCancelled,
    DossierSubmitted,
    DossierSupplemented,
    DossierVerified,
    agency_topics,
)
from dossierbus_shared.service import Service, StartupError

settings = RegistrySettings()
inboxes = [agency_topics(code)[0] for code in sorted(default_catalogue().agencies)]
service = Service(
    settings,
    migrations=Path(__file__).parent / "migrations",
    # The agencies' inboxes tell which agency holds which step of which dossier (purpose binding).
    consumes=[DossierSubmitted.topic, DossierStatusChanged.topic, *inboxes],
    consumes_matching=assignments.INBOX_TOPICS,
    produces=[DossierVerified.topic],
)
chain_key = access_log.ChainKey.from_setting(settings.access_log_key)
national_setup = national_databases(settings, service.db)
national = national_setup.databases
if national_setup.listener is not None:
    service.background(national_setup.listener.run)
if national_setup.gateway is not None:
    service.on_shutdown(national_setup.gateway.aclose)
verification = Verification(default_catalogue(), national, chain_key)
service.consumer.on(DossierSubmitted)(verification.on_submitted)
service.consumer.on(DossierStatusChanged)(verification.on_status_changed)
service.consumer.on(DossierAssigned, authenticate=assignments.from_routing)(assignments.on_assigned)
service.consumer.on(DossierStepCancelled, authenticate=assignments.from_routing)(
    assignments.on_step_cancelled
)
service.consumer.on(DossierSupplemented)(assignments.on_supplemented)
agency_catalogue = AgencyCatalogue(service.db, settings.kafka_bootstrap_servers, service.kafka_security)


@service.on_startup
async def load_reference_data() -> None:
    if chain_key.secret is None:
        raise StartupError("registry: set ACCESS_LOG_KEY (32+ bytes): the access log is keyed with it")
    await access_log.seal_unkeyed_chains(service.db, chain_key)
    await agency_catalogue.load_catalogue_file(default_catalogue())
    if settings.seed_citizens:
        await seed(service.db, settings.seed_citizens, settings.seed_enterprises)


app = service.http_app(
    agencies.router, lookups.router, consents.router, citizens.router, title="dossierbus registry"
)
app.state.settings = settings
app.state.agencies = agency_catalogue
app.state.chain_key = chain_key
app.state.lookups = Lookups(service.db, default_catalogue(), national, chain_key)
app.state.consents = Consents(service.db, chain_key)
