"""Operator console: `uvicorn dossierbus_console.app:app` serves the page at / and its API at /api, to
operators only (see dossierbus_console.login)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from dossierbus_console.api import router
from dossierbus_console.login import install_login
from dossierbus_console.settings import ConsoleSettings
from dossierbus_console.traces import JaegerBackend, SpansFileBackend, TraceBackend
from dossierbus_console.upstream import Upstreams
from dossierbus_shared.http_errors import install_error_handlers
from dossierbus_shared.kafka import KafkaSecurity
from dossierbus_shared.logs import configure_logging
from dossierbus_shared.metrics import metrics_response

STATIC = Path(__file__).parent / "static"


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    configure_logging(settings.service_name, log_format=settings.log_format, level=settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The services' operator APIs take the same operator token.
        token = settings.operator_token.get_secret_value() if settings.operator_token else None
        headers = {"Authorization": f"Bearer {token}"} if token else None
        async with httpx.AsyncClient(timeout=settings.upstream_timeout_s, headers=headers) as client:
            app.state.upstreams = Upstreams(settings, client)
            app.state.traces = trace_backend(settings, client)
            yield

    app = FastAPI(title="dossierbus console", lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.state.sessions = install_login(app, settings)
    app.add_api_route("/metrics", metrics_response, methods=["GET"], include_in_schema=False)

    @app.get("/healthz", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readiness() -> JSONResponse:
        # Ready when the broker answers; the services it reads are reported per request when they do not.
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            request_timeout_ms=3000,
            **KafkaSecurity.from_settings(settings).client_options(),
        )
        try:
            await admin.start()
            await admin.list_topics()
        except Exception as error:
            return JSONResponse({"status": "not ready", "problems": [f"kafka: {error!r}"]}, status_code=503)
        finally:
            await admin.close()
        return JSONResponse({"status": "ready"})

    app.include_router(router)
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="static")
    return app


def trace_backend(settings: ConsoleSettings, client: httpx.AsyncClient) -> TraceBackend | None:
    """Jaeger's query API when TRACE_QUERY_URL is set, else the spans file when SPANS_FILE is, else none."""
    if settings.trace_query_url:
        return JaegerBackend(settings.trace_query_url, client)
    if settings.spans_file:
        return SpansFileBackend(settings.spans_file)
    return None


app = create_app()
