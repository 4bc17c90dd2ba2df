from pydantic import Field, field_validator

from dossierbus_shared.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    """The console keeps no tables: it reads the other services over HTTP and the broker directly.
    The trace waterfall reads TRACE_QUERY_URL (Jaeger's query API) or, without it, the SPANS_FILE the
    development stack's services write (ServiceSettings.spans_file).
    OPERATOR_TOKEN (ServiceSettings.operator_token) is the operators' login, and what it sends the
    services; unset, nobody can log in."""

    service_name: str = "console"
    http_port: int = 8005
    routing_url: str = Field(default="http://127.0.0.1:8003", description="Base URL of the routing service")
    notifications_url: str = Field(
        default="http://127.0.0.1:8004", description="Base URL of the notifications service"
    )
    trace_ui_url: str = Field(
        default="http://localhost:16686/trace/{trace_id}",
        description="Link to one trace in the tracing UI ({trace_id} is replaced); empty for no links",
    )
    trace_query_url: str = Field(
        default="",
        description="Base URL of the trace backend's Jaeger query API (Jaeger, or Tempo's Jaeger-compatible"
        " API), read for the trace waterfall; empty: the spans file (SPANS_FILE) when set",
    )
    session_max_age_s: int = Field(
        default=8 * 3600, ge=60, le=7 * 24 * 3600, description="How long a console login lasts"
    )
    upstream_timeout_s: float = Field(default=10, gt=0, description="Timeout for calls to services and Kafka")
    dead_letters_shown: int = Field(default=500, ge=1, le=10_000, description="Newest letters listed per DLQ")

    @field_validator("trace_ui_url")
    @classmethod
    def _has_trace_id(cls, value: str) -> str:
        if value and "{trace_id}" not in value:
            raise ValueError("must contain {trace_id}, e.g. http://localhost:16686/trace/{trace_id}")
        return value
