from __future__ import annotations

from pydantic import Field, model_validator

from dossierbus_notifications.messages import DEFAULT_CITIZEN_PAGE_URL
from dossierbus_shared.settings import OffPathSettings, OptionalSecret


class NotificationsSettings(OffPathSettings):
    service_name: str = "notifications"
    http_port: int = 8004
    # email
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_sender: str = "no-reply@dossierbus.gov.vn"
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    # SMS
    sms_gateway_url: str | None = Field(
        default=None, description="The SMS gateway's send endpoint; no SMS are sent without one"
    )
    sms_gateway_token: OptionalSecret = Field(default=None, description="Sent as a bearer token")
    sms_timeout_s: float = Field(default=10.0, gt=0)
    # webhooks to agency systems
    # (the registry's address, REGISTRY_URL, and DIRECTORY_REFRESH_S are every service's settings)
    webhook_secrets_token: OptionalSecret = Field(
        default=None,
        description="The registry's token for reading agencies' webhook secrets (it grants nothing else); "
        "no webhooks without it",
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_tolerance_s: int = Field(
        default=300, ge=30, description="How old a signature timestamp receivers should accept, in seconds"
    )
    webhook_secret_cache_s: float = Field(default=300.0, ge=0)
    citizen_page_url: str = Field(
        default=DEFAULT_CITIZEN_PAGE_URL,
        description="The citizen page (intake's) where an applicant follows a dossier and pays its fees; "
        "the payment letters name it",
    )
    # delivery
    delivery_max_attempts: int = Field(default=5, ge=1)
    delivery_backoff_s: float = Field(default=1.0, gt=0, description="First retry delay; doubles each try")
    delivery_poll_interval_s: float = Field(default=0.2, gt=0)
    delivery_concurrency: int = Field(
        default=4,
        ge=1,
        description="Messages sent at once; the SMTP pool keeps as many connections open. A crash repeats at "
        "most this many messages, those in flight",
    )

    @model_validator(mode="after")
    def _signature_outlives_the_request(self) -> NotificationsSettings:
        # A request signed just before sending must still be fresh when the receiver reads it.
        if self.webhook_timeout_s >= self.webhook_tolerance_s:
            raise ValueError("WEBHOOK_TIMEOUT_S must be shorter than WEBHOOK_TOLERANCE_S")
        return self
