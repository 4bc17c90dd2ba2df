from pydantic import Field

from dossierbus_intake.domain.submission import UNIT_IDENTIFIER_PATTERN
from dossierbus_shared.settings import OptionalSecret, ServiceSettings


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    http_port: int = 8001
    receiving_unit: str = Field(
        default="000.00.01.H26",
        pattern=UNIT_IDENTIFIER_PATTERN,
        description="Identifier (QCVN 102) of the one-stop unit receiving dossiers; prefixes dossier codes",
    )
    other_receiving_units: list[str] = Field(
        default_factory=list,
        description="Further units this intake serves (a submission names its unit); JSON list",
    )

    tracking_secret_key: OptionalSecret = Field(
        default=None,
        description="Key the receipts' tracking secrets are derived with (HMAC of the dossier id)",
    )

    @property
    def receiving_units(self) -> list[str]:
        return [self.receiving_unit, *self.other_receiving_units]
