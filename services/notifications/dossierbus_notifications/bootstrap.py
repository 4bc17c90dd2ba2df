"""The composition root: the service, its channels, handlers and dispatcher, wired once."""

from __future__ import annotations

import logging
from pathlib import Path

from dossierbus_notifications.adapters.email import EmailChannel, SmtpPool
from dossierbus_notifications.adapters.sms import SmsChannel
from dossierbus_notifications.adapters.webhook import WebhookChannel, WebhookSecrets
from dossierbus_notifications.channels import Channel
from dossierbus_notifications.delivery import Dispatcher
from dossierbus_notifications.domain.notification import RetryPolicy
from dossierbus_notifications.domain.notifying import Notifier, WebhookAudience
from dossierbus_notifications.entrypoints import events, http
from dossierbus_notifications.messages import Templates
from dossierbus_notifications.settings import NotificationsSettings
from dossierbus_notifications.unit_of_work import NotificationsUnitOfWork
from dossierbus_shared.auth import Authenticator
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.events import (
    CATALOGUE,
    TYPE_PREFIX,
    DossierDeadlineExtended,
    DossierPaid,
    DossierPaymentRequested,
    DossierRefunded,
    DossierStatusChanged,
    DossierSubmitted,
    Event,
)
from dossierbus_shared.service import Service, ServiceApp

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
OVERDUE = TYPE_PREFIX + "dossier.overdue.v1"
"""Told about once the event catalogue has it: its templates are keyed by event type."""


def bootstrap(settings: NotificationsSettings | None = None) -> ServiceApp:
    settings = settings or NotificationsSettings()
    told: list[type[Event]] = [
        DossierSubmitted,
        DossierStatusChanged,
        DossierDeadlineExtended,  # the apology and new appointment (form 04)
        DossierPaymentRequested,  # the fees to pay, and how
        DossierPaid,  # the receipt
        DossierRefunded,
        *([CATALOGUE[OVERDUE]] if OVERDUE in CATALOGUE else []),
    ]
    service = Service(
        settings,
        migrations=MIGRATIONS,
        consumes=list(dict.fromkeys(event_type.topic for event_type in told)),  # the payments share one
        unit_of_work=NotificationsUnitOfWork,
    )
    directory = AgencyDirectory(settings.registry_url, refresh_s=settings.directory_refresh_s)
    channels = _channels(settings, service, directory)
    events.register(
        service.consumer,
        Notifier(
            Templates(citizen_page_url=settings.citizen_page_url),
            WebhookAudience(directory, default_catalogue()),
            sms="sms" in channels,
        ),
        told,
    )
    dispatcher = Dispatcher(
        service.unit_of_work,
        channels,
        RetryPolicy(settings.delivery_max_attempts, settings.delivery_backoff_s),
        lanes=settings.delivery_concurrency,
    )

    @service.background
    async def deliver_notifications() -> None:
        await dispatcher.dispatch_forever(settings.delivery_poll_interval_s)

    routes = http.router(service.unit_of_work, directory, webhook_tolerance_s=settings.webhook_tolerance_s)
    app = service.http_app(routes, title="dossierbus notifications")
    app.state.authenticator = Authenticator.from_settings(settings, agencies=directory)  # read by shared auth
    return ServiceApp(service, app)


def _channels(
    settings: NotificationsSettings, service: Service, directory: AgencyDirectory
) -> dict[str, Channel]:
    smtp = SmtpPool(
        settings.smtp_host,
        settings.smtp_port,
        timeout_s=settings.smtp_timeout_s,
        size=settings.delivery_concurrency,
    )
    service.on_shutdown(smtp.close)
    channels: dict[str, Channel] = {"email": EmailChannel(settings.smtp_sender, smtp)}
    if settings.sms_gateway_url:
        token = settings.sms_gateway_token.get_secret_value() if settings.sms_gateway_token else None
        channels["sms"] = sms = SmsChannel(settings.sms_gateway_url, token, settings.sms_timeout_s)
        service.on_shutdown(sms.close)
    if settings.webhook_secrets_token:
        secrets = WebhookSecrets(
            settings.registry_url,
            settings.webhook_secrets_token.get_secret_value(),
            cache_s=settings.webhook_secret_cache_s,
            timeout_s=settings.webhook_timeout_s,
        )
        channels["webhook"] = webhook = WebhookChannel(directory, secrets, settings.webhook_timeout_s)
        service.on_shutdown(webhook.close)
        service.background(directory.keep_fresh)
    else:
        log.info("webhooks off: set WEBHOOK_SECRETS_TOKEN (and REGISTRY_URL) to send them")
    return channels
