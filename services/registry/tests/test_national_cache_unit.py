"""The lookup cache and the gateway's circuit breaker, on a fake clock and an in-memory database."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date

import pytest

from dossierbus_registry.adapters.cache import CachedNationalDatabases
from dossierbus_registry.adapters.gateway import CircuitBreaker, CircuitOpen
from dossierbus_registry.adapters.population import NationalDatabaseUnavailable
from dossierbus_registry.domain.national import Citizen, Enterprise
from dossierbus_registry.testing import SettableClock


def person(personal_id: str, name: str = "Nguyễn Văn An") -> Citizen:
    return Citizen(
        personal_id, name, date(1985, 4, 12), "male", "Số 1, phường Ba Đình, Hà Nội", "01", "00004"
    )


class Counting:
    """An in-memory national database that counts the calls reaching it."""

    def __init__(self) -> None:
        self.people = {"001085123456": person("001085123456")}
        self.firms: dict[str, Enterprise] = {}
        self.calls = 0
        self.asked: list[list[str]] = []
        self.down = False
        self.gate: asyncio.Event | None = None

    async def citizens(self, personal_ids: Sequence[str]) -> dict[str, Citizen]:
        self.calls += 1
        self.asked.append(list(personal_ids))
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise NationalDatabaseUnavailable("down")
        return {key: self.people[key] for key in personal_ids if key in self.people}

    async def enterprises(self, tax_codes: Sequence[str]) -> dict[str, Enterprise]:
        self.calls += 1
        return {key: self.firms[key] for key in tax_codes if key in self.firms}


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def source() -> Counting:
    return Counting()


def cached(source: Counting, clock: SettableClock, **options: float) -> CachedNationalDatabases:
    return CachedNationalDatabases(source, clock=clock, **options)  # type: ignore[arg-type]


async def test_found_records_are_served_from_cache_until_they_expire(
    source: Counting, clock: SettableClock
) -> None:
    cache = cached(source, clock, ttl_s=60)
    assert await cache.citizen("001085123456") == source.people["001085123456"]
    clock.now += 59
    assert await cache.citizen("001085123456") == source.people["001085123456"]
    assert (source.calls, cache.hits, cache.misses) == (1, 1, 1)
    source.people["001085123456"] = person("001085123456", "Nguyễn Văn Bình")
    clock.now += 1
    assert (await cache.citizen("001085123456") or person("")).full_name == "Nguyễn Văn Bình"
    assert source.calls == 2


async def test_not_found_is_not_cached_by_default(source: Counting, clock: SettableClock) -> None:
    cache = cached(source, clock)
    assert await cache.citizen("001085999999") is None
    source.people["001085999999"] = person("001085999999")
    assert await cache.citizen("001085999999") == source.people["001085999999"]
    assert source.calls == 2


async def test_not_found_can_be_cached_briefly(source: Counting, clock: SettableClock) -> None:
    cache = cached(source, clock, ttl_s=300, negative_ttl_s=5)
    assert await cache.citizen("001085999999") is None
    source.people["001085999999"] = person("001085999999")
    clock.now += 4
    assert await cache.citizen("001085999999") is None
    clock.now += 1
    assert await cache.citizen("001085999999") is not None
    assert source.calls == 2


async def test_outages_are_not_cached(source: Counting, clock: SettableClock) -> None:
    cache = cached(source, clock)
    source.down = True
    with pytest.raises(NationalDatabaseUnavailable):
        await cache.citizen("001085123456")
    source.down = False
    assert await cache.citizen("001085123456") is not None
    assert len(cache) == 1


async def test_invalidation_forgets_one_record(source: Counting, clock: SettableClock) -> None:
    cache = cached(source, clock)
    source.firms["0300588569"] = Enterprise(
        "0300588569",
        "Vinamilk",
        "Công ty cổ phần",
        "001085123456",
        "Số 10 Tân Trào",
        "79",
        date(2003, 11, 20),
        "active",
    )
    await cache.citizen("001085123456")
    await cache.enterprise("0300588569")
    cache.invalidate("citizen", "001085123456")
    await cache.citizen("001085123456")
    await cache.enterprise("0300588569")
    assert source.calls == 3
    cache.clear()
    assert len(cache) == 0


async def test_least_recently_used_records_are_evicted_first(source: Counting, clock: SettableClock) -> None:
    for serial in range(3):
        source.people[f"00108500000{serial}"] = person(f"00108500000{serial}")
    cache = cached(source, clock, max_entries=2)
    await cache.citizen("001085000000")
    await cache.citizen("001085000001")
    await cache.citizen("001085000000")  # now the most recent
    await cache.citizen("001085000002")  # evicts ...001
    assert len(cache) == 2
    calls = source.calls
    await cache.citizen("001085000000")
    assert source.calls == calls
    await cache.citizen("001085000001")
    assert source.calls == calls + 1


async def test_concurrent_misses_share_one_call(source: Counting, clock: SettableClock) -> None:
    cache = cached(source, clock)
    source.gate = asyncio.Event()
    lookups = [asyncio.create_task(cache.citizen("001085123456")) for _ in range(10)]
    await asyncio.sleep(0)
    source.gate.set()
    results = await asyncio.gather(*lookups)
    assert source.calls == 1
    assert all(result == source.people["001085123456"] for result in results)


async def test_a_record_invalidated_while_loading_is_not_stored(
    source: Counting, clock: SettableClock
) -> None:
    cache = cached(source, clock)
    source.gate = asyncio.Event()
    loading = asyncio.create_task(cache.citizen("001085123456"))
    await asyncio.sleep(0)
    cache.invalidate("citizen", "001085123456")  # the source changed after the load began
    source.gate.set()
    await loading
    assert len(cache) == 0


async def test_the_misses_of_many_records_cost_one_call(source: Counting, clock: SettableClock) -> None:
    for serial in range(4):
        source.people[f"00108500000{serial}"] = person(f"00108500000{serial}")
    cache = cached(source, clock)
    await cache.citizen("001085000000")
    wanted = ["001085000000", "001085000001", "001085000002", "001085000003", "001085999999"]
    found = await cache.citizens([*wanted, "001085000001"])
    assert sorted(found) == wanted[:4]
    assert (source.calls, cache.hits, cache.misses) == (2, 1, 5)
    assert source.asked[1] == wanted[1:]
    assert await cache.citizens(wanted[:4]) == found
    assert source.calls == 2


async def test_a_batch_waits_for_the_load_of_its_keys_already_under_way(
    source: Counting, clock: SettableClock
) -> None:
    source.people["001085000001"] = person("001085000001")
    cache = cached(source, clock)
    source.gate = asyncio.Event()
    alone = asyncio.create_task(cache.citizen("001085123456"))
    await asyncio.sleep(0)
    batch = asyncio.create_task(cache.citizens(["001085123456", "001085000001"]))
    await asyncio.sleep(0)
    source.gate.set()
    assert await alone == source.people["001085123456"]
    assert await batch == {key: source.people[key] for key in ("001085123456", "001085000001")}
    assert source.asked == [["001085123456"], ["001085000001"]]


def test_breaker_opens_after_consecutive_failures_and_tries_again_after_reset(clock: SettableClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=30, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.failed()
    breaker.before_call()
    breaker.succeeded()  # a success resets the count
    for _ in range(3):
        breaker.before_call()
        breaker.failed()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen, match=r"next trial in 30\.0 s"):
        breaker.before_call()
    clock.now += 30
    assert breaker.state == "half-open"
    breaker.before_call()  # the one trial
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # no second caller while the trial runs
    breaker.failed()
    assert breaker.state == "open"
    clock.now += 30
    breaker.before_call()
    breaker.succeeded()
    assert breaker.state == "closed"
    breaker.before_call()
