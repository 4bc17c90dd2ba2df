"""The composition root: the service, its use cases and handlers, wired once."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from dossierbus_intake.citizen.session import SessionSeal
from dossierbus_intake.citizen.signin import OidcSignIn
from dossierbus_intake.citizen.sources import HttpSources
from dossierbus_intake.entrypoints import citizen_page, events, http
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
    submissions = Submissions(
        service.unit_of_work,
        default_catalogue(),
        vietnam_calendar(),
        settings.receiving_units,
        TrackingSecrets(_secret(settings.tracking_secret_key)),
    )
    # Agencies have no business here, but are told so (403) rather than taken for strangers (401).
    directory = AgencyDirectory(settings.registry_url, refresh_s=settings.directory_refresh_s)
    service.background(directory.keep_fresh)
    authenticator = Authenticator.from_settings(settings, agencies=directory)
    citizen = citizen_page.CitizenPage(
        submissions,
        SessionSeal(_secret(settings.citizen_session_key)),
        # The citizen page signs in with the same issuer and audience (its client id) the API checks.
        OidcSignIn(
            authenticator.oidc,
            client_id=settings.oidc_audience,
            client_secret=_secret(settings.citizen_oidc_client_secret),
            timeout_s=settings.upstream_timeout_s,
        )
        if authenticator.oidc is not None
        else None,
        page_url=settings.citizen_page_url,
    )
    app = service.http_app(
        http.router(submissions, Ratings(service.unit_of_work)),
        payments.install(settings, service, service.unit_of_work),
        citizen_page.router(citizen),
        title="dossierbus intake",
    )
    app.state.authenticator = authenticator  # read by shared auth
    citizen.sources = _citizen_sources(service, settings, app)
    return ServiceApp(service, app)


def _citizen_sources(service: Service, settings: IntakeSettings, app: FastAPI) -> HttpSources:
    """Routing and notifications over the network; intake's own API in process, through its whole app
    (authentication included), with an unexpected error there answered 500 rather than raised here."""
    timeout = settings.upstream_timeout_s
    clients = HttpSources(
        routing=httpx.AsyncClient(base_url=settings.routing_url, timeout=timeout),
        notifications=httpx.AsyncClient(base_url=settings.notifications_url, timeout=timeout),
        own=httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://intake.internal",
            timeout=timeout,
        ),
    )
    for client in (clients.routing, clients.notifications, clients.own):
        service.on_shutdown(client.aclose)
    return clients


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
