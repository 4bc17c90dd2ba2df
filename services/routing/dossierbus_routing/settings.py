from pydantic import Field

from dossierbus_routing.domain.deadlines import DEFAULT_EXTENSION_MAX_WORKING_DAYS
from dossierbus_shared.settings import OptionalSecret, OptionalText, ServiceSettings


class RoutingSettings(ServiceSettings):
    service_name: str = "routing"
    http_port: int = 8003
    overdue_check_interval_s: float = Field(
        default=60.0, gt=0, description="How often routing looks for dossiers past their due date"
    )
    indicators_refresh_s: float = Field(
        default=5.0, gt=0, description="How often the Decision 766 gauges are reloaded from the projection"
    )
    extension_max_working_days: int = Field(
        default=DEFAULT_EXTENSION_MAX_WORKING_DAYS,
        ge=0,
        le=120,
        description="Working days an agency's extensions (form 04) may add to a dossier's due date in all, "
        "for a procedure whose catalogue entry names no extension_max_working_days",
    )
    supplement_deadline_working_days: int | None = Field(
        default=None,
        ge=1,
        le=60,
        description="Working days a citizen has to supplement when neither the agency's request nor the "
        "procedure says; unset: no deadline (the dossier waits)",
    )
    # Status to the national public service portal (docs/portal-sync.md).
    portal_sync_url: OptionalText = Field(
        default=None,
        description="The national portal's status-sync endpoint (POST); unset or empty: sync is off and "
        "nothing is staged",
    )
    portal_sync_api_key: OptionalSecret = Field(
        default=None, description="Sent to the portal in the X-API-Key header"
    )
    portal_sync_batch_size: int = Field(
        default=50,
        ge=1,
        le=100,
        description="Changes one relay claims and sends in one request (one per dossier); the portal takes "
        "at most 100 in a request",
    )
    portal_sync_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="Timeout of one request to the portal (a round's changes)"
    )
    portal_sync_backoff_s: float = Field(
        default=2.0, gt=0, description="Wait before the first resend of a change; doubles each attempt"
    )
    portal_sync_backoff_max_s: float = Field(
        default=600.0, gt=0, description="Longest wait between two attempts of a change"
    )
    portal_sync_poll_interval_s: float = Field(
        default=2.0, gt=0, description="How often the relay looks for due changes when nothing woke it"
    )
    portal_sync_gather_s: float = Field(
        default=0.5,
        ge=0,
        le=10,
        description="How long the relay, once woken by a commit or after a round that sent something, waits"
        " for more changes to send with them",
    )
