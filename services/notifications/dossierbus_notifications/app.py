"""Notifications service: `uvicorn dossierbus_notifications.app:app`."""

from pathlib import Path

from dossierbus_notifications.adapters.email import EmailChannel
from dossierbus_notifications.delivery import Notifier
from dossierbus_notifications.entrypoints.http import router
from dossierbus_notifications.settings import NotificationsSettings
from dossierbus_shared.events import DossierStatusChanged, DossierSubmitted
from dossierbus_shared.service import Service

settings = NotificationsSettings()
service = Service(
    settings,
    migrations=Path(__file__).parent / "migrations",
    consumes=[DossierSubmitted.topic, DossierStatusChanged.topic],
)
notifier = Notifier(
    service.db,
    EmailChannel(settings.smtp_host, settings.smtp_port, settings.smtp_sender, settings.smtp_timeout_s),
    max_attempts=settings.delivery_max_attempts,
    backoff_s=settings.delivery_backoff_s,
)
service.consumer.on(DossierSubmitted)(notifier.on_submitted)
service.consumer.on(DossierStatusChanged)(notifier.on_status_changed)


@service.background
async def deliver_notifications() -> None:
    await notifier.dispatch_forever(settings.delivery_poll_interval_s)


app = service.http_app(router, title="dossierbus notifications")
