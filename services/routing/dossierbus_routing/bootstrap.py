"""The composition root: routing's service built from its settings, with the catalogue, the calendar, the
agency directory and the clock passed to whatever needs them (nothing else in the package builds them)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path

from prometheus_client import REGISTRY

from dossierbus_routing.domain import Context
from dossierbus_routing.domain.deadlines import DeadlinePolicy
from dossierbus_routing.domain.dossier import Clock, utc_now
from dossierbus_routing.entrypoints import dependencies, http, indicators
from dossierbus_routing.entrypoints.events import EventHandlers
from dossierbus_routing.entrypoints.indicator_metrics import IndicatorCollector, SnapshotRefresher
from dossierbus_routing.entrypoints.overdue import OverdueWatch, SupplementDeadlineWatch
from dossierbus_routing.portal_sync import http as portal_sync_http
from dossierbus_routing.portal_sync.install import PortalSync
from dossierbus_routing.settings import RoutingSettings
from dossierbus_routing.unit_of_work import RoutingUnitOfWork
from dossierbus_shared.auth import Authenticator
from dossierbus_shared.calendar import WorkingCalendar, vietnam_calendar
from dossierbus_shared.catalogue import Catalogue, default_catalogue
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.events import (
    DossierDeadlineExtended,
    DossierOverdue,
    DossierPaid,
    DossierPaymentRequested,
    DossierRated,
    DossierStatusChanged,
    DossierVerified,
    agency_topics,
)
from dossierbus_shared.service import Service, ServiceApp

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(
    settings: RoutingSettings | None = None,
    *,
    catalogue: Catalogue | None = None,
    calendar: WorkingCalendar | None = None,
    clock: Clock = utc_now,
) -> ServiceApp:
    settings = settings or RoutingSettings()
    catalogue = catalogue or default_catalogue()
    calendar = calendar or vietnam_calendar()
    inboxes, reports = zip(*(agency_topics(code) for code in sorted(catalogue.agencies)), strict=True)
    # Status changes for the national portal are staged by the unit of work that records them.
    portal_sync = PortalSync(settings)
    unit_of_work_type = partial(
        RoutingUnitOfWork, portal_sync=portal_sync.staging, catalogue=catalogue, calendar=calendar
    )
    service = Service(
        settings,
        migrations=MIGRATIONS,
        # Routing also follows the applicants' ratings for the 766 indicators; on dossier.payments, intake's
        # payments and refunds (its own payment requests there are ignored).
        consumes=[DossierVerified.topic, DossierRated.topic, DossierPaid.topic, *reports],
        # Onboarded agencies' reports too, without a restart.
        consumes_matching=r"agency\.[a-z0-9-]+\.reports",
        produces=[
            DossierStatusChanged.topic,
            DossierOverdue.topic,
            DossierDeadlineExtended.topic,
            DossierPaymentRequested.topic,
            *inboxes,
        ],
        unit_of_work=unit_of_work_type,
    )
    directory = AgencyDirectory(settings.registry_url, refresh_s=settings.directory_refresh_s)
    service.background(directory.keep_fresh)

    def result_domains(agency_code: str) -> Sequence[str]:
        agency = directory.agency(agency_code)
        return agency.result_domains if agency else ()

    def unit_of_work() -> AbstractAsyncContextManager[RoutingUnitOfWork]:
        return service.db.unit_of_work(unit_of_work_type)

    deadlines = DeadlinePolicy(
        extension_max_working_days=settings.extension_max_working_days,
        supplement_deadline_working_days=settings.supplement_deadline_working_days,
    )
    context = Context(
        catalogue,
        calendar,
        onboarded_agency=directory.handler,
        result_domains=result_domains,
        clock=clock,
        deadlines=deadlines,
    )
    EventHandlers(context, unit_of_work).register(service.consumer, directory)
    overdue = OverdueWatch(unit_of_work, context, interval_s=settings.overdue_check_interval_s)
    service.background(overdue.run)
    unsupplemented = SupplementDeadlineWatch(
        unit_of_work, context, interval_s=settings.overdue_check_interval_s
    )
    service.background(unsupplemented.run)
    collector = IndicatorCollector()
    REGISTRY.register(collector)
    service.background(
        SnapshotRefresher(collector, unit_of_work, context, interval_s=settings.indicators_refresh_s).run
    )

    app = service.http_app(
        http.router, indicators.router, portal_sync_http.router, title="dossierbus routing"
    )
    portal_sync.install(service, app)
    dependencies.provide(app, context, unit_of_work)
    # Agencies' API tokens are known by their digests in the directory.
    app.state.authenticator = Authenticator.from_settings(settings, agencies=directory)
    return ServiceApp(service, app)
