from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from dossierbus_shared.settings import OptionalSecret, ServiceSettings


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
    registry_admin_token: OptionalSecret = Field(
        default=None,
        description="Bearer token of the operators who onboard agencies; onboarding is off without one",
    )
    access_log_key: OptionalSecret = Field(
        default=None,
        description="Secret (32+ bytes) the access-log chain is keyed with (HMAC-SHA256); kept out of the "
        "database. The registry does not start without it",
    )
    webhook_secrets_token: OptionalSecret = Field(
        default=None,
        description="Bearer token that may read agencies' webhook secrets and nothing else (the "
        "notifications service's); unset: nobody reads them",
    )
    national_db: Literal["reference", "http"] = Field(
        default="reference",
        description="Where national data comes from: the reference copy in this schema, or the gateway",
    )
    national_db_url: str | None = Field(
        default=None, description="Base URL of the national API gateway (NATIONAL_DB=http)"
    )
    national_db_token: SecretStr | None = Field(default=None, description="Bearer token for the gateway")
    national_db_timeout_s: float = Field(default=2.0, gt=0, description="Per-request timeout")
    national_db_attempts: int = Field(default=3, ge=1, description="Tries per lookup (1 = no retry)")
    national_db_backoff_s: float = Field(default=0.1, ge=0, description="First retry delay; doubles")
    national_db_breaker_failures: int = Field(
        default=5, ge=1, description="Consecutive failed lookups that open the circuit breaker"
    )
    national_db_breaker_reset_s: float = Field(
        default=30.0, gt=0, description="How long the breaker stays open before one trial lookup"
    )
    national_db_cache_ttl_s: float = Field(
        default=300.0, ge=0, description="How long a found record is served from cache (0: no cache)"
    )
    national_db_cache_negative_ttl_s: float = Field(
        default=0.0, ge=0, description="How long a 'not found' is served from cache (0: never cached)"
    )
    national_db_cache_size: int = Field(default=100_000, ge=0, description="Most records kept in cache")

    @model_validator(mode="after")
    def _gateway_needs_a_url(self) -> RegistrySettings:
        if self.national_db == "http" and not self.national_db_url:
            raise ValueError("NATIONAL_DB=http needs NATIONAL_DB_URL")
        return self
