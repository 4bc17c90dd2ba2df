"""`eventually`: wait for something another process does (a broker, a database, a service) to show.

    await eventually(lambda: len(applied) == 2)            # a condition
    code = await eventually(reached_processing)           # a check that asserts, and returns what it found

The one way tests and the stack's scenarios wait: no fixed sleeps, a bound on every wait, and when the
bound passes, the last failure the check gave, so a timeout says what was seen instead of only "timed out".
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast, overload

T = TypeVar("T")


@overload
async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    timeout_s: float = ...,
    interval_s: float = ...,
    ignoring: tuple[type[Exception], ...] = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T],
    *,
    timeout_s: float = ...,
    interval_s: float = ...,
    ignoring: tuple[type[Exception], ...] = ...,
) -> T: ...


async def eventually(
    check: Callable[[], Awaitable[T] | T],
    *,
    timeout_s: float = 60,
    interval_s: float = 0.1,
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """Call `check` (a function or a coroutine function) every `interval_s` until it holds, and return
    what it returned. It holds when it returns anything but `False` without raising `AssertionError` (or
    one of `ignoring`: errors that also mean "not yet", such as a connection refused during a restart);
    any other error is raised at once. After `timeout_s` (a call still running is cancelled), an
    AssertionError says so, with the last failure as its cause."""
    not_yet: tuple[type[Exception], ...] = (AssertionError, *ignoring)
    last: BaseException | None = None
    outcome = "no call of it finished"
    bound = asyncio.timeout(timeout_s)
    try:
        async with bound:
            while True:
                try:
                    result = check()
                    if inspect.isawaitable(result):
                        result = await result
                except not_yet as failure:
                    last, outcome = failure, f"{type(failure).__name__}: {failure}"
                else:
                    if result is not False:
                        return cast(T, result)
                    last, outcome = None, "it returned False"
                await asyncio.sleep(interval_s)
    except TimeoutError:
        if not bound.expired():
            raise  # the check's own timeout, not the bound
        raise AssertionError(f"{_name(check)} did not hold within {timeout_s:g} s ({outcome})") from last


def _name(check: Callable[..., object]) -> str:
    """The check's name and where it is defined: a lambda is known by its line."""
    code = getattr(check, "__code__", None)
    name = getattr(check, "__qualname__", repr(check))
    if code is None:
        return name
    return f"{name} ({code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})"
