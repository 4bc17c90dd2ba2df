"""Registry service: `uvicorn dossierbus_registry.app:app`."""

from pathlib import Path

from dossierbus_registry.agencies import AgencyCatalogue
from dossierbus_registry.consents import Consents
from dossierbus_registry.entrypoints import agencies, citizens, consents, lookups
from dossierbus_registry.lookups import Lookups
from dossierbus_registry.national import national_databases
from dossierbus_registry.seeding import seed
from dossierbus_registry.settings import RegistrySettings
from dossierbus_registry.verification import Verification
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import DossierStatusChanged, DossierSubmitted, DossierVerified
from dossierbus_shared.service import Service

settings = RegistrySettings()
service = Service(
    settings,
    migrations=Path(__file__).parent / "migrations",
    consumes=[DossierSubmitted.topic, DossierStatusChanged.topic],
    produces=[DossierVerified.topic],
)
national_setup = national_databases(settings, service.db)
national = national_setup.databases
if national_setup.listener is not None:
    service.background(national_setup.listener.run)
if national_setup.gateway is not None:
    service.on_shutdown(national_setup.gateway.aclose)
verification = Verification(default_catalogue(), national)
service.consumer.on(DossierSubmitted)(verification.on_submitted)
service.consumer.on(DossierStatusChanged)(verification.on_status_changed)
agency_catalogue = AgencyCatalogue(service.db, settings.kafka_bootstrap_servers, service.kafka_security)


@service.on_startup
async def load_reference_data() -> None:
    await agency_catalogue.load_catalogue_file(default_catalogue())
    if settings.seed_citizens:
        await seed(service.db, settings.seed_citizens, settings.seed_enterprises)


app = service.http_app(
    agencies.router, lookups.router, consents.router, citizens.router, title="dossierbus registry"
)
app.state.settings = settings
app.state.agencies = agency_catalogue
app.state.lookups = Lookups(service.db, default_catalogue(), national)
app.state.consents = Consents(service.db)
