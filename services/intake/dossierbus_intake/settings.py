from pydantic import Field

from dossierbus_shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    http_port: int = 8001
    receiving_unit: str = Field(
        default="000.00.01.H26",
        description="Identifier (QCVN 102) of the one-stop unit receiving dossiers; prefixes dossier codes",
    )
