"""Configuration from the environment; one `Settings` subclass per service."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

OptionalText = Annotated[str | None, BeforeValidator(lambda value: None if value == "" else value)]
"""A setting whose absence turns something off; set but empty counts as absent."""

OptionalSecret = Annotated[SecretStr | None, BeforeValidator(lambda value: None if value == "" else value)]
"""A secret whose absence turns something off; set but empty (`PII_PEPPER=` or `${PII_PEPPER:-}` in
docker-compose.yml) counts as absent, never as an empty secret."""


def consumer_linger(default_ms: int) -> Any:
    """CONSUMER_LINGER_MS with a default: 0 on a dossier's way to its agency, 250 off it (OffPathSettings)."""
    return Field(
        default=default_ms,
        ge=0,
        le=5000,
        description="How long a fetch that is not a full batch waits for more records to apply with it: for"
        " a service off the dossier's path, a steady trickle then costs a transaction per linger, not one"
        " per record (0: apply what each fetch brings at once)",
    )


TOPIC_PARTITIONS = 6
"""Partitions of a topic created where it is missing, unless KAFKA_TOPIC_PARTITIONS says otherwise."""


def fetch_max_wait(default_ms: int) -> Any:
    """KAFKA_FETCH_MAX_WAIT_MS with a default: 100 on a dossier's way to its agency, 500 off it
    (OffPathSettings)."""
    return Field(
        default=default_ms,
        ge=1,
        le=5000,
        description="How long the broker may hold an empty fetch: an idle consumer asks 1000/wait times a"
        " second, each answer costing the broker (and the consumer) CPU; Apache Kafka answers as soon as"
        " records arrive, some brokers (Tansu) only at a point of the wait, up to half of it later",
    )


class ServiceSettings(BaseSettings):
    """What every service needs: where the broker and database are, and how to behave on them."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    service_name: str = "dossierbus"
    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        description="SQLAlchemy URL; each service keeps its tables in its own schema",
    )
    database_schema: str = ""
    database_migration_url: OptionalSecret = Field(
        default=None,
        description="SQLAlchemy URL of the schema's owner role, used only to migrate at start-up;"
        " unset: DATABASE_URL (whose role then needs no more than its data, once the schema is migrated)",
    )
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    db_pool_size: int = Field(
        default=10, ge=1, le=500, description="Database connections kept open (as many again on demand)"
    )
    db_pool_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long a request waits for a free connection before it is answered 503 (Retry-After)",
    )
    gc_freeze_at_start: bool = Field(
        default=True,
        description="Once started, move every object made so far (modules, the app, the catalogue) out of"
        " the garbage collector's sight (gc.freeze): a full collection then scans only what came after, not"
        " ~150,000 objects that stop the event loop for 70-100 ms. Off where many services start in one"
        " long-lived process (the test suite)",
    )
    kafka_fetch_max_wait_ms: int = fetch_max_wait(100)
    kafka_request_timeout_ms: int = Field(default=30_000, ge=1000)
    kafka_topic_partitions: int = Field(
        default=TOPIC_PARTITIONS,
        ge=1,
        le=1000,
        description="Partitions of a topic the service creates because it is missing (none is where topics"
        " are declared up front, as in the Kubernetes deployment): a consumer group spreads over at most this"
        " many replicas, and a broker that reads every partition a fetch names (Tansu) pays for each",
    )
    kafka_metadata_max_age_ms: int = Field(
        default=10_000,
        ge=500,
        description="Topic metadata refresh: how soon new matching topics are consumed",
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        ge=1000,
        description="How long the consumer group waits for a silent member (a killed replica) before handing"
        " its partitions to the others; some brokers also make a joining member wait half of it",
    )
    # How to reach a secured broker; dossierbus_shared.kafka turns these into every client's options.
    kafka_security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: KafkaSaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers' certificates (system CAs when unset)",
    )
    consumer_retries: int = Field(default=3, ge=0, le=20, description="Tries before a record goes to its DLQ")
    consumer_retry_backoff_s: float = Field(default=0.2, ge=0)
    consumer_retry_backoff_max_s: float = Field(
        default=30.0, gt=0, description="Longest wait between tries of a record (the wait doubles per try)"
    )
    consumer_batch_size: int = Field(
        default=100, ge=1, le=10_000, description="Most records one fetch applies in one transaction"
    )
    consumer_linger_ms: int = consumer_linger(0)
    outbox_batch_size: int = Field(default=500, ge=1, le=10_000)
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    http_max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="The largest request body a route reads; larger ones are answered 413",
    )
    registry_url: str = Field(
        default="http://127.0.0.1:8002", description="The registry, for its agency directory"
    )
    directory_refresh_s: float = Field(default=30.0, gt=0, description="How often the directory is re-read")
    spans_file: str | None = Field(
        default=None, description="Also write finished spans as JSON lines to this file (demo and tests)"
    )

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> Self:
        # A half-configured client would only fail later, at connection time, with a vaguer error.
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL_"):
            missing = [
                name.upper()
                for name in ("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}")
        elif self.kafka_sasl_mechanism or self.kafka_sasl_username or self.kafka_sasl_password:
            raise ValueError(f"KAFKA_SASL_* are set, but KAFKA_SECURITY_PROTOCOL={protocol} is not SASL")
        if self.kafka_ssl_cafile and not protocol.endswith("SSL"):
            raise ValueError(f"KAFKA_SSL_CAFILE is set, but KAFKA_SECURITY_PROTOCOL={protocol} is not TLS")
        return self

    log_format: Literal["json", "text"] = Field(
        default="json", description="One JSON object per log line, or text"
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL")
    pii_pepper: OptionalSecret = Field(
        default=None,
        description="Secret key of the pseudonyms that replace personal identifiers in spans and logs",
    )
    # Who may call (dossierbus_shared.auth): a role whose secret is unset cannot log in.
    oidc_issuer: OptionalText = Field(
        default=None,
        description="The citizens' OpenID Connect issuer (national eID); unset: no citizen login",
    )
    oidc_audience: str = Field(default="dossierbus", description="The `aud` citizens' tokens must carry")
    oidc_personal_id_claim: str = Field(
        default="sub", description="The token claim that holds the citizen's 12-digit personal ID"
    )
    portal_token: OptionalSecret = Field(default=None, description="The one-stop portal's bearer token")
    operator_token: OptionalSecret = Field(default=None, description="Operators' bearer token")
    auditor_token: OptionalSecret = Field(default=None, description="Auditors' bearer token")
    metrics_sample_interval_s: float = Field(
        default=5.0, gt=0, description="How often consumer lag, DLQ sizes and the outbox backlog are read"
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        if level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level.upper()

    @property
    def db_schema(self) -> str:
        return self.database_schema or self.service_name.replace("-", "_")

    @property
    def consumer_group(self) -> str:
        return f"dossierbus.{self.service_name}"


class OffPathSettings(ServiceSettings):
    """A service off a dossier's way to its agency (intake, notifications): a quarter second more gathers a
    trickle into one transaction, and an idle consumer asks the broker twice a second instead of ten times."""

    consumer_linger_ms: int = consumer_linger(250)
    kafka_fetch_max_wait_ms: int = fetch_max_wait(500)
