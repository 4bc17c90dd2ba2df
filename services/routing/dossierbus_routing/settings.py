from pydantic import Field

from dossierbus_shared.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    service_name: str = "routing"
    http_port: int = 8003
    indicators_refresh_s: float = Field(
        default=5.0, gt=0, description="How often the Decision 766 gauges are reloaded from the projection"
    )
