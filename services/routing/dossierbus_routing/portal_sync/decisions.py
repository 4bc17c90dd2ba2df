"""What the relay makes of the portal's answer to one change: pure, no I/O.

- 2xx: sent.
- No answer (a network error, a timeout), 5xx, 429 (too many requests), 408 (request timeout), and
  401/403 (our credentials: a configuration fault, not the change's) are retried, with a backoff that
  doubles from `backoff_s` up to `backoff_max_s` (longer when the portal asks, with Retry-After). They are
  retried for as long as it takes: a change is never dropped because the portal was away.
- Any other 4xx is the portal refusing this change: failed, with the portal's reason, and never resent.
  Only an answer to the change itself can refuse it: a request the portal answered as a whole (a batch it
  could not read, or too large: 400, 404, 413, 422, ...) says nothing against any change it carried, so
  each of them is retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dossierbus_shared.outages import RETRIED_4XX


@dataclass(frozen=True)
class Answer:
    """The portal's answer to one change; `status` None when there was none (`error` says why)."""

    status: int | None
    error: str | None = None
    retry_after_s: float | None = None
    whole_request: bool = False
    """The answer was to the request that carried the change, not to the change: never a refusal."""


@dataclass(frozen=True)
class RetryPolicy:
    backoff_s: float = 2.0
    backoff_max_s: float = 600.0

    def delay_s(self, attempts: int, retry_after_s: float | None = None) -> float:
        """The wait after the `attempts`-th failed attempt (1 for the first)."""
        doubled = min(self.backoff_max_s, self.backoff_s * 2.0 ** max(attempts - 1, 0))
        return max(doubled, min(retry_after_s or 0.0, self.backoff_max_s))


@dataclass(frozen=True)
class Sent:
    at: datetime


@dataclass(frozen=True)
class Retry:
    at: datetime
    """When the change is due again."""
    error: str


@dataclass(frozen=True)
class Refused:
    error: str


Decision = Sent | Retry | Refused


def decide(answer: Answer, attempts: int, now: datetime, policy: RetryPolicy) -> Decision:
    """The outcome of an attempt, `attempts` counting it."""
    status = answer.status
    if status is not None and 200 <= status < 300 and not answer.whole_request:
        return Sent(now)  # a 2xx to the request alone says nothing of the change
    error = _describe(answer)
    if (
        status is None
        or status >= 500
        or status in RETRIED_4XX
        or answer.whole_request
        or status < 200
        or 300 <= status < 400
    ):
        return Retry(now + timedelta(seconds=policy.delay_s(attempts, answer.retry_after_s)), error)
    return Refused(error)


def _describe(answer: Answer) -> str:
    if answer.status is None:
        return f"no answer: {answer.error or 'unknown error'}"
    reason = f": {answer.error}" if answer.error else ""
    whole = " to the whole request" if answer.whole_request else ""
    return f"HTTP {answer.status}{whole}{reason}"
