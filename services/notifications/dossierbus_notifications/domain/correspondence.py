from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

from dossierbus_notifications.domain.notification import Notification
from dossierbus_notifications.domain.recipient import Recipient


@dataclass
class Correspondence:
    """What is told about one dossier, and to whom: the applicant once `dossier.submitted` made them
    known, and the notifications queued since it was loaded."""

    dossier_id: UUID
    recipient: Recipient | None = None
    awaiting: bool = False
    """Notifications stored earlier await the recipient (a status change overtook the submission)."""
    learned: Recipient | None = None
    """The recipient, when made known since it was loaded."""
    queued: list[Notification] = field(default_factory=list)

    def learn(self, recipient: Recipient) -> None:
        """The applicant is known; a second word of them (a redelivered submission) changes nothing."""
        if self.recipient is not None:
            return
        self.recipient = self.learned = recipient
        for notification in self.queued:
            notification.address(recipient.email)

    def tell(self, notifications: Iterable[Notification]) -> None:
        self.queued.extend(notifications)

    @property
    def releases_awaiting(self) -> bool:
        """Whether the notifications stored awaiting the recipient are now to be addressed."""
        return self.awaiting and self.learned is not None
