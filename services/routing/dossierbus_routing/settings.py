from pydantic import Field

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
