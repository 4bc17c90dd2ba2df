"""The composition root: the service, its use cases and handlers, wired once."""

from __future__ import annotations

from pathlib import Path

from dossierbus_intake.entrypoints import events, http
from dossierbus_intake.payments import install as payments
from dossierbus_intake.ratings import Ratings
from dossierbus_intake.settings import IntakeSettings
from dossierbus_intake.submissions import Submissions
from dossierbus_intake.tracking import TrackingSecrets
from dossierbus_intake.unit_of_work import IntakeUnitOfWork
from dossierbus_shared.auth import Authenticator
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.events import (
    DossierPaymentRequested,
    DossierRated,
    DossierStatusChanged,
    DossierSubmitted,
)
from dossierbus_shared.service import Service, ServiceApp

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: IntakeSettings | None = None) -> ServiceApp:
    settings = settings or IntakeSettings()
    service = Service(
        settings,
        migrations=MIGRATIONS,
        # Final statuses tell intake when a dossier may be rated; routing asks on dossier.payments for the
        # fees intake collects, and intake answers there that they were paid or refunded.
        consumes=[DossierStatusChanged.topic, DossierPaymentRequested.topic],
        produces=[DossierSubmitted.topic, DossierRated.topic, DossierPaymentRequested.topic],
        unit_of_work=IntakeUnitOfWork,
    )
    events.register(service.consumer)
    key = settings.tracking_secret_key
    submissions = Submissions(
        service.unit_of_work,
        default_catalogue(),
        vietnam_calendar(),
        settings.receiving_units,
        TrackingSecrets(key.get_secret_value() if key else None),
    )
    app = service.http_app(
        http.router(submissions, Ratings(service.unit_of_work)),
        payments.install(settings, service, service.unit_of_work),
        title="dossierbus intake",
    )
    # Agencies have no business here, but are told so (403) rather than taken for strangers (401).
    directory = AgencyDirectory(settings.registry_url, refresh_s=settings.directory_refresh_s)
    service.background(directory.keep_fresh)
    app.state.authenticator = Authenticator.from_settings(settings, agencies=directory)  # read by shared auth
    return ServiceApp(service, app)
