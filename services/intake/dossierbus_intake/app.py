"""Intake service: `uvicorn dossierbus_intake.app:app`."""

from pathlib import Path

from dossierbus_intake.entrypoints.http import router
from dossierbus_intake.ratings import Ratings
from dossierbus_intake.settings import IntakeSettings
from dossierbus_intake.submissions import Submissions
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
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
app.state.submissions = Submissions(
    service.db, default_catalogue(), vietnam_calendar(), settings.receiving_units
)
ratings = Ratings(service.db)
service.consumer.on(DossierStatusChanged)(ratings.on_status_changed)
app.state.ratings = ratings
