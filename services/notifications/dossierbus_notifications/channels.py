"""What every delivery channel implements: send one queued notification or raise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class Outgoing:
    """One queued notification, as a channel sees it."""

    event_id: UUID
    recipient: str
    """An email address, a phone number, or an agency code (webhooks)."""
    subject: str
    body: str
    attempt: int

    @property
    def message_id(self) -> str:
        """Stable across attempts, so a resend after a crash is recognisably the same message."""
        return str(self.event_id)


class Channel(Protocol):
    name: str

    async def send(self, outgoing: Outgoing) -> None:
        """Deliver, or raise with a reason that goes into the delivery log."""
        ...
