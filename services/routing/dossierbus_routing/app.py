"""Routing service: `uvicorn dossierbus_routing.app:app`."""

from pathlib import Path

from prometheus_client import REGISTRY, make_asgi_app
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_routing.entrypoints import indicators
from dossierbus_routing.entrypoints.http import router
from dossierbus_routing.indicator_metrics import IndicatorCollector, SnapshotRefresher
from dossierbus_routing.indicator_projection import IndicatorProjection
from dossierbus_routing.settings import RoutingSettings
from dossierbus_routing.workflow import Workflow
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    DossierRated,
    DossierStatusChanged,
    DossierStatusReported,
    DossierVerified,
    agency_topics,
)
from dossierbus_shared.service import Service

settings = RoutingSettings()
catalogue = default_catalogue()
inboxes, reports = zip(*(agency_topics(code) for code in sorted(catalogue.agencies)), strict=True)
service = Service(
    settings,
    migrations=Path(__file__).parent / "migrations",
    # Routing also follows its own status changes and the applicants' ratings for the 766 indicators.
    consumes=[DossierVerified.topic, DossierStatusChanged.topic, DossierRated.topic, *reports],
    produces=[DossierStatusChanged.topic, *inboxes],
)
workflow = Workflow(catalogue)
projection = IndicatorProjection(catalogue, vietnam_calendar())


@service.consumer.on(DossierVerified)
async def on_verified(session: AsyncSession, envelope: Envelope[DossierVerified]) -> None:
    await workflow.on_verified(session, envelope)
    await projection.on_verified(session, envelope)


service.consumer.on(DossierStatusReported)(workflow.on_reported)
service.consumer.on(DossierStatusChanged)(projection.on_status_changed)
service.consumer.on(DossierRated)(projection.on_rated)

collector = IndicatorCollector()
REGISTRY.register(collector)
service.background(
    SnapshotRefresher(collector, projection, service.db, interval_s=settings.indicators_refresh_s).run
)

app = service.http_app(router, indicators.router, title="dossierbus routing")
app.state.indicators = projection
app.mount("/metrics", make_asgi_app())
