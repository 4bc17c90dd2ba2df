"""Routing service: `uvicorn dossierbus_routing.app:app`."""

from pathlib import Path

from dossierbus_routing.entrypoints.http import router
from dossierbus_routing.report_auth import ReportAuthenticator
from dossierbus_routing.settings import RoutingSettings
from dossierbus_routing.workflow import Workflow
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.envelope import Envelope
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
    # Onboarded agencies' reports too, without a restart.
    consumes_matching=r"agency\.[a-z0-9-]+\.reports",
    produces=[DossierStatusChanged.topic, *inboxes],
)
directory = AgencyDirectory(service.settings.registry_url, refresh_s=service.settings.directory_refresh_s)
service.background(directory.keep_fresh)
workflow = Workflow(catalogue, directory)


async def record_refusal(envelope: Envelope[DossierStatusReported], reason: str) -> None:
    async with service.db.transaction() as session:
        await workflow.record_refused_report(session, envelope, reason)


service.consumer.on(DossierVerified)(workflow.on_verified)
service.consumer.on(
    DossierStatusReported, authenticate=ReportAuthenticator(directory, refused=record_refusal)
)(workflow.on_reported)
app = service.http_app(router, title="dossierbus routing")
