"""Configuration from the environment; one `Settings` subclass per service."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every service needs: where the broker and database are, and how to behave on them."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    service_name: str = "dossierbus"
    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        description="SQLAlchemy URL; each service keeps its tables in its own schema",
    )
    database_schema: str = ""
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_fetch_max_wait_ms: int = Field(default=20, ge=1, le=5000)
    kafka_request_timeout_ms: int = Field(default=30_000, ge=1000)
    kafka_metadata_max_age_ms: int = Field(
        default=10_000,
        ge=500,
        description="Topic metadata refresh: how soon new matching topics are consumed",
    )
    consumer_retries: int = Field(default=3, ge=0, le=20, description="Tries before a record goes to its DLQ")
    consumer_retry_backoff_s: float = Field(default=0.2, ge=0)
    outbox_batch_size: int = Field(default=500, ge=1, le=10_000)
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    registry_url: str = Field(
        default="http://127.0.0.1:8002", description="The registry, for its agency directory"
    )
    directory_refresh_s: float = Field(default=30.0, gt=0, description="How often the directory is re-read")
    spans_file: str | None = Field(
        default=None, description="Also write finished spans as JSON lines to this file (demo and tests)"
    )

    @property
    def db_schema(self) -> str:
        return self.database_schema or self.service_name.replace("-", "_")

    @property
    def consumer_group(self) -> str:
        return f"dossierbus.{self.service_name}"
