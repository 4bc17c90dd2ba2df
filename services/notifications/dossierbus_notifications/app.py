"""Notifications service: `uvicorn dossierbus_notifications.app:app`."""

import logging
from pathlib import Path

from dossierbus_notifications.adapters.email import EmailChannel
from dossierbus_notifications.adapters.sms import SmsChannel
from dossierbus_notifications.adapters.webhook import WebhookChannel, WebhookSecrets
from dossierbus_notifications.channels import Channel
from dossierbus_notifications.delivery import Dispatcher
from dossierbus_notifications.entrypoints.http import router
from dossierbus_notifications.messages import Templates
from dossierbus_notifications.notifying import Notifier, WebhookAudience
from dossierbus_notifications.settings import NotificationsSettings
from dossierbus_shared.auth import Authenticator
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.events import (
    CATALOGUE,
    TYPE_PREFIX,
    DossierStatusChanged,
    DossierSubmitted,
    Event,
)
from dossierbus_shared.service import Service

OVERDUE = TYPE_PREFIX + "dossier.overdue.v1"
"""Told about once the event catalogue has it: its templates are keyed by event type."""

settings = NotificationsSettings()
told: list[type[Event]] = [
    DossierSubmitted,
    DossierStatusChanged,
    *([CATALOGUE[OVERDUE]] if OVERDUE in CATALOGUE else []),
]
service = Service(settings, migrations=Path(__file__).parent / "migrations", consumes=[e.topic for e in told])

channels: dict[str, Channel] = {
    "email": EmailChannel(
        settings.smtp_host, settings.smtp_port, settings.smtp_sender, settings.smtp_timeout_s
    )
}
if settings.sms_gateway_url:
    token = settings.sms_gateway_token.get_secret_value() if settings.sms_gateway_token else None
    channels["sms"] = SmsChannel(settings.sms_gateway_url, token, settings.sms_timeout_s)
directory = AgencyDirectory(settings.registry_url, refresh_s=settings.directory_refresh_s)
if settings.webhook_secrets_token:
    secrets = WebhookSecrets(
        settings.registry_url,
        settings.webhook_secrets_token.get_secret_value(),
        cache_s=settings.webhook_secret_cache_s,
        timeout_s=settings.webhook_timeout_s,
    )
    channels["webhook"] = WebhookChannel(directory, secrets, settings.webhook_timeout_s)

    @service.background
    async def keep_directory_fresh() -> None:
        await directory.keep_fresh()

else:
    logging.getLogger(__name__).info(
        "webhooks off: set WEBHOOK_SECRETS_TOKEN (and REGISTRY_URL) to send them"
    )


notifier = Notifier(
    Templates(),
    WebhookAudience(directory, default_catalogue()),
    sms="sms" in channels,
)
service.consumer.on(DossierSubmitted)(notifier.on_submitted)
for event_type in told[1:]:
    service.consumer.on(event_type)(notifier.on_event)
dispatcher = Dispatcher(
    service.db, channels, max_attempts=settings.delivery_max_attempts, backoff_s=settings.delivery_backoff_s
)


@service.background
async def deliver_notifications() -> None:
    await dispatcher.dispatch_forever(settings.delivery_poll_interval_s)


app = service.http_app(router, title="dossierbus notifications")
app.state.directory = directory
app.state.authenticator = Authenticator.from_settings(settings, agencies=directory)
app.state.webhook_tolerance_s = settings.webhook_tolerance_s
