"""Periodic work for the life of a service: refreshing the agency directory, looking for overdue dossiers,
reloading the indicators, sampling metrics. One loop for all of them, so each is paced, survives its
failures and stops alike."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn

from dossierbus_shared.outages import is_outage

log = logging.getLogger(__name__)


async def every(
    interval_s: float, work: Callable[[], Awaitable[object]], *, what: str, first_after_s: float = 0.0
) -> NoReturn:
    """Run `work` until cancelled: first after `first_after_s` (at once by default), then `interval_s` after
    each run ends, so runs never overlap. A run that raises is logged, as `what` failing, and the next run
    tries again: an outage (a database or peer away, see outages.py) in one line, anything else with its
    traceback."""
    await asyncio.sleep(first_after_s)
    while True:
        try:
            await work()
        except Exception as error:
            if is_outage(error):
                log.warning("%s failed, trying again in %gs: %s", what, interval_s, error)
            else:
                log.exception("%s failed, trying again in %gs", what, interval_s)
        await asyncio.sleep(interval_s)
