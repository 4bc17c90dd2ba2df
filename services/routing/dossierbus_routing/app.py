"""Routing service: `uvicorn dossierbus_routing.app:app`."""

from pathlib import Path

from dossierbus_routing.entrypoints.http import router
from dossierbus_routing.settings import RoutingSettings
from dossierbus_routing.workflow import Workflow
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import (
    DossierStatusChanged,
    DossierStatusReported,
    DossierVerified,
    agency_topics,
)
from dossierbus_shared.service import Service

catalogue = default_catalogue()
inboxes, reports = zip(*(agency_topics(code) for code in sorted(catalogue.agencies)), strict=True)
service = Service(
    RoutingSettings(),
    migrations=Path(__file__).parent / "migrations",
    consumes=[DossierVerified.topic, *reports],
    produces=[DossierStatusChanged.topic, *inboxes],
)
workflow = Workflow(catalogue)
service.consumer.on(DossierVerified)(workflow.on_verified)
service.consumer.on(DossierStatusReported)(workflow.on_reported)
app = service.http_app(router, title="dossierbus routing")
