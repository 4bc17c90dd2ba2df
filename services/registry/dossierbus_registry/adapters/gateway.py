"""The national databases behind a national API gateway, over HTTP.

The gateway answers `GET {base}/citizens/{personal_id}` and `GET {base}/enterprises/{tax_code}` with
the record as JSON (the fields of `Citizen` / `Enterprise`), or 404 when it holds none; the records of
a run of dossiers are asked for a few at a time. Timeouts,
connection failures, 429 and 5xx are retried with exponential backoff and jitter; repeated failures
open a circuit breaker, so an outage is answered at once with NationalDatabaseUnavailable instead of
every request waiting out its timeout and retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Any, TypeVar

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from dossierbus_registry.adapters.population import NationalDatabaseUnavailable
from dossierbus_registry.domain.national import Citizen, Enterprise

T = TypeVar("T")
RETRIED_STATUSES = {429, 500, 502, 503, 504}
CONCURRENT_REQUESTS = 8
"""Requests in flight at once for the records of one run of dossiers."""


class _Transient(Exception):
    """A failure worth retrying."""


class CircuitOpen(NationalDatabaseUnavailable):
    """The breaker is open: the gateway failed repeatedly and is left alone until the reset time."""


class CircuitBreaker:
    """Closed → (`failure_threshold` consecutive failed calls) → open → (`reset_after_s`) → half-open:
    one trial call; success closes the breaker, failure opens it again."""

    def __init__(
        self, failure_threshold: int, reset_after_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.reset_after_s else "open"

    def before_call(self) -> None:
        state = self.state
        if state == "open" or (state == "half-open" and self._trial_running):
            assert self.opened_at is not None
            retry_in = self.reset_after_s - (self.clock() - self.opened_at)
            raise CircuitOpen(f"national API gateway circuit open; next trial in {max(retry_in, 0):.1f} s")
        self._trial_running = state == "half-open"

    def succeeded(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial_running = False

    def abandoned(self) -> None:
        self._trial_running = False

    def failed(self) -> None:
        self.failures += 1
        self._trial_running = False
        if self.opened_at is not None or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()


class HttpNationalDatabases:
    """NationalDatabases through the national API gateway."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 2.0,
        attempts: int = 3,
        backoff_s: float = 0.1,
        breaker: CircuitBreaker | None = None,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_s, headers=headers, transport=transport
        )
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.breaker = breaker or CircuitBreaker(failure_threshold=5, reset_after_s=30)

    async def citizens(self, personal_ids: Sequence[str]) -> dict[str, Citizen]:
        return await _each(personal_ids, self.citizen)

    async def enterprises(self, tax_codes: Sequence[str]) -> dict[str, Enterprise]:
        return await _each(tax_codes, self.enterprise)

    async def citizen(self, personal_id: str) -> Citizen | None:
        record = await self._get(f"/citizens/{personal_id}")
        return None if record is None else _parse(Citizen, record, ("date_of_birth",))

    async def enterprise(self, tax_code: str) -> Enterprise | None:
        record = await self._get(f"/enterprises/{tax_code}")
        return None if record is None else _parse(Enterprise, record, ("registered_on",))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _get(self, path: str) -> dict[str, Any] | None:
        # One breaker decision per lookup: the retries below are one call as far as it is concerned.
        self.breaker.before_call()
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.attempts),
                wait=wait_exponential_jitter(
                    multiplier=self.backoff_s, max=self.backoff_s * 8, jitter=self.backoff_s
                ),
                retry=retry_if_exception_type(_Transient),
                reraise=True,
            ):
                with attempt:
                    record = await self._get_once(path)
        except _Transient as failure:
            self.breaker.failed()
            raise NationalDatabaseUnavailable(
                f"national API gateway failed {self.attempts} times on {path}: {failure}"
            ) from failure
        except NationalDatabaseUnavailable:
            self.breaker.succeeded()  # it answered, if not usefully: the gateway itself is up
            raise
        except BaseException:
            self.breaker.abandoned()  # cancelled: neither a success nor a failure
            raise
        self.breaker.succeeded()
        return record

    async def _get_once(self, path: str) -> dict[str, Any] | None:
        try:
            response = await self.client.get(path)
        except httpx.TransportError as error:  # connect, read and write errors and timeouts
            raise _Transient(f"{type(error).__name__}: {error}") from error
        if response.status_code == 404:
            return None
        if response.status_code in RETRIED_STATUSES:
            raise _Transient(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise NationalDatabaseUnavailable(
                f"national API gateway refused {path}: HTTP {response.status_code} {response.text[:200]}"
            )
        try:
            record = response.json()
        except ValueError as error:
            raise _Transient(f"not JSON: {error}") from error
        if not isinstance(record, dict):
            raise _Transient("not a JSON object")
        return record


async def _each(keys: Sequence[str], get: Callable[[str], Awaitable[T | None]]) -> dict[str, T]:
    """The gateway answers one record per request: a few requests at a time, every one finished before
    the first failure is raised (none left running behind the caller's back)."""
    limit = asyncio.Semaphore(CONCURRENT_REQUESTS)

    async def one(key: str) -> tuple[str, T | None]:
        async with limit:
            return key, await get(key)

    answers = await asyncio.gather(*(one(key) for key in dict.fromkeys(keys)), return_exceptions=True)
    found: dict[str, T] = {}
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
        key, record = answer
        if record is not None:
            found[key] = record
    return found


def _parse(kind: type[T], record: dict[str, Any], date_fields: tuple[str, ...]) -> T:
    try:
        values = {name: record[name] for name in kind.__dataclass_fields__}  # type: ignore[attr-defined]
        for name in date_fields:
            values[name] = date.fromisoformat(values[name])
        return kind(**values)
    except (KeyError, TypeError, ValueError) as error:
        raise NationalDatabaseUnavailable(
            f"national API gateway answered an incomplete {kind.__name__} record: {error!r}"
        ) from error
