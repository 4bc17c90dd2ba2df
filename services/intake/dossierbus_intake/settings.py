from typing import Self

from pydantic import Field, model_validator

from dossierbus_intake.domain.submission import UNIT_IDENTIFIER_PATTERN
from dossierbus_shared.settings import OffPathSettings, OptionalSecret, OptionalText


class IntakeSettings(OffPathSettings):
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

    # The national payment platform (docs/payments.md). Unset URL: dossiers cannot be paid online.
    payment_platform_url: OptionalText = Field(
        default=None, description="Base URL of the payment platform's API; unset: payments cannot be opened"
    )
    payment_merchant_code: OptionalText = Field(
        default=None, description="Intake's merchant code at the payment platform (required with the URL)"
    )
    payment_callback_secret: OptionalSecret = Field(
        default=None,
        description="Key of the HMAC-SHA256 signatures of the platform's callbacks and of intake's requests "
        "(required with the URL)",
    )
    payment_callback_url: OptionalText = Field(
        default=None,
        description="Intake's POST /payments/callback as the platform reaches it (required with the URL)",
    )
    payment_return_url: str = Field(
        default="https://dichvucong.gov.vn/",
        description="Where the platform sends the citizen back after paying; `{dossier_code}` is replaced",
    )
    payment_timeout_s: float = Field(default=10.0, gt=0, le=60, description="Timeout of one platform call")
    payment_reconcile_after_s: float = Field(
        default=900.0,
        gt=0,
        description="A payment pending this long is asked about (its callback may be lost)",
    )
    payment_reconcile_interval_s: float = Field(
        default=60.0, gt=0, description="How often pending payments are reconciled and due refunds asked for"
    )

    @model_validator(mode="after")
    def _payment_platform_is_complete(self) -> Self:
        if self.payment_platform_url:
            missing = [
                name.upper()
                for name in ("payment_merchant_code", "payment_callback_secret", "payment_callback_url")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"PAYMENT_PLATFORM_URL is set: set {', '.join(missing)} too")
        return self

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
