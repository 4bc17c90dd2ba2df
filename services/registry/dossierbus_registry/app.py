"""Registry service: `uvicorn dossierbus_registry.app:app`."""

from pathlib import Path

from dossierbus_registry.adapters.population import ReferenceNationalDatabases
from dossierbus_registry.entrypoints.http import router
from dossierbus_registry.settings import RegistrySettings
from dossierbus_registry.synthetic import citizens
from dossierbus_registry.verification import Verification
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import DossierSubmitted, DossierVerified
from dossierbus_shared.service import Service

settings = RegistrySettings()
service = Service(
    settings,
    migrations=Path(__file__).parent / "migrations",
    consumes=[DossierSubmitted.topic],
    produces=[DossierVerified.topic],
)
national = ReferenceNationalDatabases(service.db)
service.consumer.on(DossierSubmitted)(Verification(default_catalogue(), national).on_submitted)


@service.on_startup
async def seed_reference_data() -> None:
    if settings.seed_citizens:
        async with service.db.transaction() as session:
            await national.load_citizens(session, citizens(settings.seed_citizens))


app = service.http_app(router, title="dossierbus registry")
