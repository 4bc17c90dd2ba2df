"""Routing service: `uvicorn dossierbus_routing.app:app`."""

from pathlib import Path

from prometheus_client import REGISTRY

from dossierbus_routing.entrypoints import indicators
from dossierbus_routing.entrypoints.http import router
from dossierbus_routing.indicator_metrics import IndicatorCollector, SnapshotRefresher
from dossierbus_routing.indicator_projection import IndicatorProjection
from dossierbus_routing.overdue import OverdueWatch
from dossierbus_routing.report_auth import ReportAuthenticator
from dossierbus_routing.settings import RoutingSettings
from dossierbus_routing.workflow import Workflow
from dossierbus_shared.auth import Authenticator
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    DossierOverdue,
    DossierRated,
    DossierStatusChanged,
    DossierStatusReported,
    DossierVerified,
    agency_topics,
)
from dossierbus_shared.service import Service
from dossierbus_shared.unit_of_work import UnitOfWork

settings = RoutingSettings()
catalogue = default_catalogue()
calendar = vietnam_calendar()
inboxes, reports = zip(*(agency_topics(code) for code in sorted(catalogue.agencies)), strict=True)
service = Service(
    settings,
    migrations=Path(__file__).parent / "migrations",
    # Routing also follows its own status changes and the applicants' ratings for the 766 indicators.
    consumes=[DossierVerified.topic, DossierStatusChanged.topic, DossierRated.topic, *reports],
    # Onboarded agencies' reports too, without a restart.
    consumes_matching=r"agency\.[a-z0-9-]+\.reports",
    produces=[DossierStatusChanged.topic, DossierOverdue.topic, *inboxes],
)
directory = AgencyDirectory(settings.registry_url, refresh_s=settings.directory_refresh_s)
service.background(directory.keep_fresh)
workflow = Workflow(catalogue, calendar, directory=directory)
projection = IndicatorProjection(catalogue, calendar)


@service.consumer.on(DossierVerified)
async def on_verified(work: UnitOfWork, envelope: Envelope[DossierVerified]) -> None:
    await workflow.on_verified(work, envelope)
    await projection.on_verified(work, envelope)


async def record_refusal(envelope: Envelope[DossierStatusReported], reason: str) -> None:
    async with service.db.transaction() as session:
        await workflow.record_refused_report(session, envelope, reason)


service.consumer.on(
    DossierStatusReported, authenticate=ReportAuthenticator(directory, refused=record_refusal)
)(workflow.on_reported)
service.consumer.on(DossierStatusChanged)(projection.on_status_changed)
service.consumer.on(DossierRated)(projection.on_rated)
overdue = OverdueWatch(service.db, workflow, calendar, interval_s=settings.overdue_check_interval_s)
service.background(overdue.run)

collector = IndicatorCollector()
REGISTRY.register(collector)
service.background(
    SnapshotRefresher(collector, projection, service.db, interval_s=settings.indicators_refresh_s).run
)

app = service.http_app(router, indicators.router, title="dossierbus routing")
app.state.workflow = workflow
# Agencies' API tokens are known by their digests in the directory.
app.state.authenticator = Authenticator.from_settings(settings, agencies=directory)
app.state.indicators = projection
