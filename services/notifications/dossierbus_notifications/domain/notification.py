"""One message to one recipient over one channel, caused by one event, and its delivery: every attempt is
logged; a failed one is retried with exponential backoff and jitter until the tries run out, when the
notification is dead (the channel's dead letter) until an operator re-queues it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from dossierbus_notifications.channels import Outgoing
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import Event

# Statuses of a notification.
PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"  # its tries ran out; kept, and re-queueable
UNDELIVERABLE = "undeliverable"  # no address
AWAITING_RECIPIENT = "awaiting_recipient"
"""A status change overtook the dossier's submission (different topics): addressed when it arrives. Its
message is in both languages: the applicant's preference is not known yet."""

# Outcomes of an attempt.
SENDING = "sending"  # under way
FAILED = "failed"
INTERRUPTED = "interrupted"  # its dispatcher stopped before the outcome was known
INTERRUPTED_ERROR = "the dispatcher stopped before this attempt's outcome was known"


class NotDead(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(f"the notification is {status}")
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff_s: float

    def delay(self, tries: int, jitter: float) -> timedelta:
        """`backoff_s × 2^(tries-1) × jitter`, the jitter drawn from uniform(0.5, 1.5)."""
        return timedelta(seconds=self.backoff_s * 2 ** (tries - 1) * jitter)


@dataclass
class Attempt:
    number: int
    started_at: datetime
    outcome: str = SENDING
    duration_ms: int = 0
    error: str | None = None


def addressed(address: str | None, channel: str) -> tuple[str, str | None]:
    """The status of a notification to `address`, and why it cannot be delivered when it cannot."""
    if address:
        return PENDING, None
    return UNDELIVERABLE, f"the applicant gave no address for {channel}"


@dataclass
class Notification:
    event_id: UUID
    event_type: str
    dossier_id: UUID
    dossier_code: str
    channel: str
    recipient: str
    """An email address, a phone number, or an agency code (webhooks)."""
    subject: str
    body: str
    status: str = PENDING
    last_error: str | None = None
    id: int | None = None
    """Given when it is first stored."""
    attempts: int = 0
    attempts_at_requeue: int = 0
    """Attempts when it was last re-queued: a re-queued notification gets a fresh set of tries."""
    next_attempt_at: datetime | None = None
    created_at: datetime | None = None
    delivered_at: datetime | None = None
    version: int = 0
    """`attempts` as last read or written: a save finding another number was overtaken (another
    dispatcher began an attempt meanwhile) and changes nothing."""
    attempt: Attempt | None = None
    """The attempt begun or ended since it was loaded, for the delivery log."""

    @classmethod
    def queued(
        cls,
        envelope: Envelope[Any],
        channel: str,
        address: str | None,
        subject: str,
        body: str,
        *,
        status: str | None = None,
    ) -> Notification:
        """What `envelope` tells `address`: pending, or undeliverable without an address (`status` says
        otherwise, e.g. awaiting the recipient)."""
        event: Event = envelope.data
        pending, error = addressed(address, channel)
        return cls(
            event_id=envelope.id,
            event_type=envelope.type,
            dossier_id=event.dossier_id,
            dossier_code=event.dossier_code,
            channel=channel,
            recipient=address or "",
            subject=subject,
            body=body,
            status=status or pending,
            last_error=None if status else error,
        )

    def address(self, address: str | None) -> None:
        """The recipient a notification awaited is known."""
        if self.status == AWAITING_RECIPIENT:
            self.recipient = address or ""
            self.status, self.last_error = addressed(address, self.channel)

    def begin_attempt(self, now: datetime, claimed_until: datetime) -> None:
        """Log an attempt as under way; the notification is this dispatcher's until `claimed_until`."""
        self.attempts += 1
        self.next_attempt_at = claimed_until
        self.attempt = Attempt(self.attempts, now)

    def delivered(self, now: datetime, duration_ms: int) -> None:
        self._ended(DELIVERED, duration_ms, None)
        self.status, self.delivered_at, self.last_error = DELIVERED, now, None

    def failed(self, error: str, now: datetime, duration_ms: int, policy: RetryPolicy, jitter: float) -> None:
        """Retried after the policy's delay, or dead once the tries since the last re-queue run out."""
        self._ended(FAILED, duration_ms, error)
        self.last_error = error
        tries = self.attempts - self.attempts_at_requeue
        if tries >= policy.max_attempts:
            self.status = DEAD
        else:
            self.next_attempt_at = now + policy.delay(tries, jitter)

    def requeue(self, now: datetime) -> None:
        """Send a dead notification again, with a fresh set of tries; NotDead for any other."""
        if self.status != DEAD:
            raise NotDead(self.status)
        self.status, self.attempts_at_requeue, self.next_attempt_at = PENDING, self.attempts, now

    def outgoing(self) -> Outgoing:
        return Outgoing(self.event_id, self.recipient, self.subject, self.body, self.attempts)

    def _ended(self, outcome: str, duration_ms: int, error: str | None) -> None:
        if self.attempt is None or self.attempt.outcome != SENDING:
            raise RuntimeError(f"notification {self.id} has no attempt under way")
        self.attempt.outcome, self.attempt.duration_ms, self.attempt.error = outcome, duration_ms, error
