from pydantic import Field

from dossierbus_shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"
    http_port: int = 8004
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_sender: str = "no-reply@dossierbus.gov.vn"
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    delivery_max_attempts: int = Field(default=5, ge=1)
    delivery_backoff_s: float = Field(default=1.0, gt=0, description="First retry delay; doubles each try")
    delivery_poll_interval_s: float = Field(default=0.2, gt=0)
