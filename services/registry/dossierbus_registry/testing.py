"""For the registry's tests: a clock a test moves, for what takes a monotonic clock (the circuit breaker,
the lookup cache)."""

from __future__ import annotations


class SettableClock:
    """Seconds, as `time.monotonic` gives them, at what a test sets (`clock.now += ...`)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
