"""Routing service: `uvicorn dossierbus_routing.app:app`."""

from pathlib import Path

from dossierbus_routing.entrypoints.http import router
from dossierbus_routing.overdue import OverdueWatch
from dossierbus_routing.settings import RoutingSettings
from dossierbus_routing.workflow import Workflow
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import (
    DossierOverdue,
    DossierStatusChanged,
    DossierStatusReported,
    DossierVerified,
    agency_topics,
)
from dossierbus_shared.service import Service

settings = RoutingSettings()
catalogue = default_catalogue()
calendar = vietnam_calendar()
inboxes, reports = zip(*(agency_topics(code) for code in sorted(catalogue.agencies)), strict=True)
service = Service(
    settings,
    migrations=Path(__file__).parent / "migrations",
    consumes=[DossierVerified.topic, *reports],
    produces=[DossierStatusChanged.topic, DossierOverdue.topic, *inboxes],
)
workflow = Workflow(catalogue, calendar)
service.consumer.on(DossierVerified)(workflow.on_verified)
service.consumer.on(DossierStatusReported)(workflow.on_reported)
overdue = OverdueWatch(service.db, workflow, calendar, interval_s=settings.overdue_check_interval_s)
service.background(overdue.run)
app = service.http_app(router, title="dossierbus routing")
app.state.workflow = workflow
