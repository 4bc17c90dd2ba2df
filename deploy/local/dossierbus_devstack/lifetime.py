"""How a program that owns a stack (`dossierbus up`, the demo, the benchmarks) stops when asked.

SIGINT (Ctrl-C), SIGTERM (`kill`, `timeout`, a supervisor) and SIGHUP (the terminal closed) cancel the
program's main coroutine, so its `async with DevStack()` stops every part it started. A second signal
while stopping exits at once; so does kill -9 of the program: then the kernel stops each part, whose
death signal is armed when it starts (parts.ChildProcess).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Coroutine
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_until_signalled(main: Coroutine[Any, Any, None]) -> int | None:
    """Run `main` in a new event loop until it returns (None) or a stop signal cancels it and the
    stack it owns has stopped (that signal's number)."""
    received: list[int] = []

    async def guarded() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()

        def stop(signum: int) -> None:
            if received:  # asked again while stopping: the kernel takes the parts down with us
                os._exit(128 + signum)
            received.append(signum)
            task.cancel()

        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, stop, signum)
        try:
            await main
        except asyncio.CancelledError:
            if not received:
                raise

    asyncio.run(guarded())
    return received[0] if received else None
