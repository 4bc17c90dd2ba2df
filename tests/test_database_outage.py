"""While PostgreSQL is down, every service that uses it answers 503 with Retry-After (never 500) and its
readiness says not ready; once PostgreSQL is back, the same requests succeed without restarting anything.
On the stack's own embedded PostgreSQL, stopped cleanly (its socket file gone) and crashed (immediate
stop: the socket file left, connections refused)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.stack import DevStack

PROBES = [
    # (service, a request that reads the service's database, who asks)
    ("intake", "/dossiers/H01.01-260101-9999", "portal"),
    ("routing", "/dossiers/H01.01-260101-9999", "portal"),
    ("registry", "/agencies", "portal"),
    ("notifications", "/deliveries", "operator"),
]


@pytest.fixture(scope="module")
async def own_database_stack(kafka_bootstrap: str) -> AsyncIterator[DevStack]:
    """A stack with a PostgreSQL of its own, which the tests stop and start."""
    stack = DevStack(kafka_bootstrap=kafka_bootstrap, agencies=False)
    if stack.database_url:
        pytest.skip("DATABASE_URL names a server these tests cannot stop")
    async with stack:
        yield stack


async def wait_ready(http: httpx.AsyncClient, stack: DevStack, service: str) -> None:
    async def ready() -> None:
        response = await http.get(stack.url(service, "/readyz"))
        assert response.status_code == 200, f"{service} not ready again: {response.text}"

    await eventually(ready, interval_s=0.2)


@pytest.mark.parametrize("crash", [False, True], ids=["stopped", "crashed"])
async def test_a_database_outage_is_answered_503_with_retry_after_and_heals(
    own_database_stack: DevStack, crash: bool
) -> None:
    stack = own_database_stack
    async with httpx.AsyncClient(timeout=30) as http:
        before = {}
        for service, path, role in PROBES:
            response = await http.get(stack.url(service, path), headers=stack.headers(role))
            assert response.status_code < 500, (service, response.text)
            before[service] = response.status_code

        stack.stop_database(crash=crash)
        try:
            for service, path, role in PROBES:
                response = await http.get(stack.url(service, path), headers=stack.headers(role))
                assert response.status_code == 503, (service, response.status_code, response.text)
                assert int(response.headers["Retry-After"]) > 0
                assert response.headers["content-type"] == "application/problem+json"
                assert "database is busy or out of reach" in response.json()["detail"]
                readiness = await http.get(stack.url(service, "/readyz"))
                assert readiness.status_code == 503, (service, readiness.text)
                assert readiness.json()["status"] == "not ready"
                assert any("database unreachable" in p for p in readiness.json()["problems"])
        finally:
            await stack.start_database()

        for service, path, role in PROBES:
            await wait_ready(http, stack, service)
            response = await http.get(stack.url(service, path), headers=stack.headers(role))
            assert response.status_code == before[service], (service, response.text)
