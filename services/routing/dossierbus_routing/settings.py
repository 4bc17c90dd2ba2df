from pydantic import Field

from dossierbus_routing.domain.deadlines import DEFAULT_EXTENSION_MAX_WORKING_DAYS
from dossierbus_shared.settings import ServiceSettings


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
