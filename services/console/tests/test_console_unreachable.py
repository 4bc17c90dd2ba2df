"""The console when nothing it reads answers: the page still loads, every API call is a clear problem."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dossierbus_console.app import create_app
from dossierbus_console.settings import ConsoleSettings
from dossierbus_devstack.parts import free_port


@pytest.fixture(scope="module")
async def console() -> AsyncIterator[httpx.AsyncClient]:
    closed = free_port()  # nothing listens there
    settings = ConsoleSettings(
        kafka_bootstrap_servers=f"127.0.0.1:{closed}",
        routing_url=f"http://127.0.0.1:{closed}",
        notifications_url=f"http://127.0.0.1:{closed}",
        upstream_timeout_s=5,
        operator_token="s3cret",  # type: ignore[arg-type]
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://console", headers={"Authorization": "Bearer s3cret"}
        ) as client,
    ):
        yield client


async def test_the_page_is_served(console: httpx.AsyncClient) -> None:
    page = await console.get("/")
    assert page.status_code == 200 and "dossierbus console" in page.text
    assert (await console.get("/console.js")).headers["content-type"].startswith("text/javascript")


async def test_a_service_that_does_not_answer_is_a_502_problem(console: httpx.AsyncClient) -> None:
    response = await console.get("/api/dossiers/000.00.01.H26-261126-0001")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert "service did not answer" in response.json()["detail"]  # routing or notifications, both down


async def test_a_broker_that_does_not_answer_is_a_502_problem_and_not_ready(
    console: httpx.AsyncClient,
) -> None:
    queues = await console.get("/api/queues")
    assert queues.status_code == 502 and queues.json()["title"] == "Broker unavailable"
    assert (await console.get("/readyz")).status_code == 503
    assert (await console.get("/healthz")).status_code == 200
