from pydantic import Field

from dossierbus_intake.domain.submission import UNIT_IDENTIFIER_PATTERN
from dossierbus_shared.settings import OptionalSecret, OptionalText, ServiceSettings


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

    # The citizen page (/citizen, docs/citizen-view.md): what it reads for the signed-in citizen, with her
    # own token, and how she signs in (OIDC_ISSUER, with OIDC_AUDIENCE as the client id).
    routing_url: str = Field(
        default="http://127.0.0.1:8003", description="Base URL of the routing service (the citizen page)"
    )
    notifications_url: str = Field(
        default="http://127.0.0.1:8004",
        description="Base URL of the notifications service (the citizen page)",
    )
    citizen_page_url: OptionalText = Field(
        default=None,
        description="Public URL of the citizen page, e.g. https://dichvucong.example.gov.vn/citizen (its"
        " sign-in callback is <url>/callback); unset: taken from the request (development)",
    )
    citizen_session_key: OptionalSecret = Field(
        default=None,
        description="Key the citizen page's session cookies are encrypted with (shared by every replica);"
        " unset: a random key per process, so sessions end at a restart",
    )
    citizen_oidc_client_secret: OptionalSecret = Field(
        default=None,
        description="The citizen page's client secret at the OpenID provider; unset: a public client (PKCE)",
    )
    upstream_timeout_s: float = Field(
        default=10,
        gt=0,
        le=60,
        description="Timeout of the citizen page's calls to routing, notifications and the OpenID provider",
    )

    @property
    def receiving_units(self) -> list[str]:
        return [self.receiving_unit, *self.other_receiving_units]
