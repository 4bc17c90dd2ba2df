"""Intake service: `uvicorn dossierbus_intake.app:app`."""

from pathlib import Path

from dossierbus_intake.entrypoints.http import router
from dossierbus_intake.ratings import Ratings
from dossierbus_intake.settings import IntakeSettings
from dossierbus_intake.submissions import Submissions
from dossierbus_intake.tracking import TrackingSecrets
from dossierbus_shared.auth import Authenticator
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.events import DossierRated, DossierStatusChanged, DossierSubmitted
from dossierbus_shared.service import Service

settings = IntakeSettings()
service = Service(
    settings,
    migrations=Path(__file__).parent / "migrations",
    # Final statuses tell intake when a dossier may be rated.
    consumes=[DossierStatusChanged.topic],
    produces=[DossierSubmitted.topic, DossierRated.topic],
)
app = service.http_app(router, title="dossierbus intake")
key = settings.tracking_secret_key
app.state.submissions = Submissions(
    service.db,
    default_catalogue(),
    vietnam_calendar(),
    settings.receiving_units,
    TrackingSecrets(key.get_secret_value() if key else None),
)
# Agencies have no business here, but are told so (403) rather than taken for strangers (401).
directory = AgencyDirectory(settings.registry_url, refresh_s=settings.directory_refresh_s)
service.background(directory.keep_fresh)
app.state.authenticator = Authenticator.from_settings(settings, agencies=directory)
ratings = Ratings(service.db)
service.consumer.on(DossierStatusChanged)(ratings.on_status_changed)
app.state.ratings = ratings
