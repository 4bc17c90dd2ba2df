from pydantic import Field, SecretStr

from dossierbus_shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    service_name: str = "registry"
    http_port: int = 8002
    seed_citizens: int = Field(
        default=0,
        ge=0,
        description="Load this many synthetic citizens into the reference population database",
    )
    seed_enterprises: int = Field(
        default=0,
        ge=0,
        description="With SEED_CITIZENS: load this many synthetic enterprises (and their branches) too",
    )
    registry_admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of the operators who onboard agencies; onboarding is off without one",
    )
