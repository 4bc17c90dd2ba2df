"""`every`: runs at once and then again, survives a failing run, waits for its first run if told, and
stops when cancelled."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from dossierbus_shared.periodic import every


async def test_runs_at_once_then_again_after_each_run_and_stops_when_cancelled() -> None:
    runs: list[int] = []
    third = asyncio.Event()

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) == 3:
            third.set()

    running = asyncio.create_task(every(0.01, work, what="counting"))
    await asyncio.wait_for(third.wait(), 10)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    stopped_at = len(runs)
    await asyncio.sleep(0.05)
    assert len(runs) == stopped_at >= 3


async def test_a_failing_run_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[str] = []
    recovered = asyncio.Event()

    async def flaky() -> None:
        attempts.append("run")
        if len(attempts) == 1:
            raise RuntimeError("a bug")
        if len(attempts) == 2:
            raise httpx.ConnectError("registry unreachable")
        recovered.set()

    with caplog.at_level(logging.WARNING, logger="dossierbus_shared.periodic"):
        running = asyncio.create_task(every(0.01, flaky, what="refreshing the directory"))
        await asyncio.wait_for(recovered.wait(), 10)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    bug, outage = caplog.records[:2]
    assert bug.getMessage() == "refreshing the directory failed, trying again in 0.01s"
    assert bug.exc_info is not None, "an unexpected error is logged with its traceback"
    assert (
        outage.getMessage() == "refreshing the directory failed, trying again in 0.01s: registry unreachable"
    )
    assert outage.exc_info is None, "an outage is one line"


async def test_the_first_run_waits_when_told() -> None:
    runs: list[str] = []

    async def work() -> None:
        runs.append("run")

    running = asyncio.create_task(every(60, work, what="waiting", first_after_s=60))
    await asyncio.sleep(0.05)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert runs == []
