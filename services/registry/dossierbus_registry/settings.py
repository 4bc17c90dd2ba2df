from pydantic import Field

from dossierbus_shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    service_name: str = "registry"
    http_port: int = 8002
    seed_citizens: int = Field(
        default=0,
        ge=0,
        description="Load this many synthetic citizens into the reference population database",
    )
