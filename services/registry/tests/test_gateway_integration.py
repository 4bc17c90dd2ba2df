"""HttpNationalDatabases against a real HTTP gateway (uvicorn on a free port) that fails, then recovers.

The breaker's reset time passes on a clock the tests move: HTTP is real, the waiting is not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import date
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Response

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.parts import free_port
from dossierbus_registry.adapters.gateway import (
    CONCURRENT_REQUESTS,
    CircuitBreaker,
    CircuitOpen,
    HttpNationalDatabases,
)
from dossierbus_registry.adapters.population import NationalDatabaseUnavailable
from dossierbus_registry.domain.national import Citizen, Enterprise
from dossierbus_registry.testing import SettableClock

AN = Citizen(
    "001085123456", "Nguyễn Văn An", date(1985, 4, 12), "male", "Số 1, phường Ba Đình, Hà Nội", "01", "00004"
)
VINAMILK = Enterprise(
    "0300588569",
    "Công ty Cổ phần Sữa Việt Nam",
    "Công ty cổ phần",
    "001085123456",
    "Số 10 Tân Trào, phường Tân Hưng, TP. Hồ Chí Minh",
    "79",
    date(2003, 11, 20),
    "active",
)


class Gateway:
    """A national API gateway whose health the test controls."""

    def __init__(self) -> None:
        self.hits = 0
        self.failing = 0
        """Answer this many next requests with 503."""
        self.down = False
        self.delay_s = 0.0
        self.broken = False
        """Answer 200 with a record that lacks its fields."""
        self.at_once = self.most_at_once = 0
        self.app = FastAPI()
        self.app.get("/api/citizens/{key}")(self._citizen)
        self.app.get("/api/enterprises/{key}")(self._enterprise)

    async def _answer(self, record: Any) -> Any:
        self.hits += 1
        self.at_once += 1
        self.most_at_once = max(self.most_at_once, self.at_once)
        try:
            await asyncio.sleep(self.delay_s or 0.01)
        finally:
            self.at_once -= 1
        if self.down or self.failing > 0:
            self.failing = max(self.failing - 1, 0)
            return Response(status_code=503)
        if record is None:
            return Response(status_code=404)
        if self.broken:
            return {"personal_id": record.get("personal_id")}
        return {
            name: value.isoformat() if isinstance(value, date) else value for name, value in record.items()
        }

    async def _citizen(self, key: str) -> Any:
        return await self._answer(asdict(AN) if key == AN.personal_id else None)

    async def _enterprise(self, key: str) -> Any:
        return await self._answer(asdict(VINAMILK) if key == VINAMILK.tax_code else None)


class Serving:
    """The gateway a test talks to: one server for the module, a fresh Gateway for each test."""

    def __init__(self) -> None:
        self.gateway = Gateway()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.gateway.app(scope, receive, send)


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[tuple[Serving, str]]:
    serving = Serving()
    port = free_port()
    # log_config=None: leave the process's logging (shared by every test) as it is.
    server = uvicorn.Server(uvicorn.Config(serving, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, interval_s=0.02)
    try:
        yield serving, f"http://127.0.0.1:{port}/api"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def gateway(server: tuple[Serving, str]) -> tuple[Gateway, str]:
    serving, url = server
    serving.gateway = Gateway()
    return serving.gateway, url


RESET_AFTER_S = 30.0


def adapter(url: str, clock: SettableClock | None = None, **options: Any) -> HttpNationalDatabases:
    return HttpNationalDatabases(
        url,
        timeout_s=options.pop("timeout_s", 2.0),
        attempts=3,
        backoff_s=0.01,
        breaker=CircuitBreaker(
            failure_threshold=2, reset_after_s=RESET_AFTER_S, clock=clock or SettableClock()
        ),
        **options,
    )


async def test_found_and_not_found(gateway: tuple[Gateway, str]) -> None:
    _fake, url = gateway
    national = adapter(url)
    assert await national.citizen(AN.personal_id) == AN
    assert await national.citizen("001085999999") is None
    assert await national.enterprise(VINAMILK.tax_code) == VINAMILK
    assert await national.enterprise("0100109106") is None
    await national.aclose()


async def test_many_records_at_once_a_few_requests_at_a_time(gateway: tuple[Gateway, str]) -> None:
    fake, url = gateway
    national = adapter(url)
    unknown = [f"0010859{serial:05d}" for serial in range(20)]
    found = await national.citizens([AN.personal_id, *unknown, AN.personal_id])
    assert found == {AN.personal_id: AN}
    assert fake.hits == 21  # one request per record, the repeated one asked once
    assert fake.most_at_once == CONCURRENT_REQUESTS
    assert await national.enterprises([VINAMILK.tax_code, "0100109106"]) == {VINAMILK.tax_code: VINAMILK}
    fake.down = True
    with pytest.raises(NationalDatabaseUnavailable):  # an outage, not "none of them found"
        await national.citizens([AN.personal_id, *unknown])
    await national.aclose()


async def test_a_passing_failure_is_retried(gateway: tuple[Gateway, str]) -> None:
    fake, url = gateway
    national = adapter(url)
    fake.failing = 2
    assert await national.citizen(AN.personal_id) == AN
    assert fake.hits == 3
    assert national.breaker.state == "closed"
    await national.aclose()


async def test_an_outage_opens_the_breaker_and_recovery_closes_it(gateway: tuple[Gateway, str]) -> None:
    fake, url = gateway
    clock = SettableClock()
    national = adapter(url, clock)
    fake.down = True
    for lookup in range(2):
        with pytest.raises(NationalDatabaseUnavailable, match="failed 3 times") as caught:
            await national.citizen(AN.personal_id)
        assert not isinstance(caught.value, CircuitOpen)
        assert fake.hits == 3 * (lookup + 1)
    assert national.breaker.state == "open"

    # Open: refused at once, the gateway is left alone.
    with pytest.raises(CircuitOpen):
        await national.enterprise(VINAMILK.tax_code)
    assert fake.hits == 6

    fake.down = False
    clock.now += RESET_AFTER_S - 1
    with pytest.raises(CircuitOpen):  # not yet
        await national.citizen(AN.personal_id)
    assert fake.hits == 6
    clock.now += 1
    assert national.breaker.state == "half-open"
    assert await national.citizen(AN.personal_id) == AN
    assert national.breaker.state == "closed"
    assert fake.hits == 7
    await national.aclose()


async def test_a_failed_trial_opens_the_breaker_again(gateway: tuple[Gateway, str]) -> None:
    fake, url = gateway
    clock = SettableClock()
    national = adapter(url, clock)
    fake.down = True
    for _ in range(2):
        with pytest.raises(NationalDatabaseUnavailable):
            await national.citizen(AN.personal_id)
    clock.now += RESET_AFTER_S
    with pytest.raises(NationalDatabaseUnavailable, match="failed 3 times"):
        await national.citizen(AN.personal_id)
    assert national.breaker.state == "open"
    await national.aclose()


async def test_timeouts_are_an_outage_not_an_absence(gateway: tuple[Gateway, str]) -> None:
    fake, url = gateway
    national = adapter(url, timeout_s=0.1)
    fake.delay_s = 0.5
    with pytest.raises(NationalDatabaseUnavailable, match="ReadTimeout"):
        await national.citizen(AN.personal_id)
    assert fake.hits == 3
    await national.aclose()


async def test_a_gateway_that_is_not_there() -> None:
    national = adapter(f"http://127.0.0.1:{free_port()}/api")
    with pytest.raises(NationalDatabaseUnavailable, match="ConnectError"):
        await national.citizen(AN.personal_id)
    await national.aclose()


async def test_an_incomplete_record_is_refused_but_does_not_open_the_breaker(
    gateway: tuple[Gateway, str],
) -> None:
    fake, url = gateway
    clock = SettableClock()
    national = adapter(url, clock)
    fake.down = True
    for _ in range(2):
        with pytest.raises(NationalDatabaseUnavailable):
            await national.citizen(AN.personal_id)
    clock.now += RESET_AFTER_S
    fake.down, fake.broken = False, True
    with pytest.raises(NationalDatabaseUnavailable, match="incomplete Citizen record"):
        await national.citizen(AN.personal_id)  # the half-open trial: the gateway answered
    assert national.breaker.state == "closed"
    fake.broken = False
    assert await national.citizen(AN.personal_id) == AN
    await national.aclose()
