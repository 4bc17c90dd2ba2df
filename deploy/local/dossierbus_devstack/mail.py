"""An SMTP server that keeps what it receives, standing in for the citizens' mailboxes."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from dossierbus_devstack.eventually import eventually


class MailSink:
    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []
        self._controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def for_dossier(self, code: str, subject_containing: str = "") -> list[EmailMessage]:
        """Messages about one dossier: notifications put its code first in the subject."""
        return [
            message
            for message in self.messages
            if (subject := str(message["Subject"])).startswith(f"[{code}]") and subject_containing in subject
        ]

    async def wait_for(
        self, code: str, count: int, *, subject_containing: str = "", timeout_s: float = 30
    ) -> list[EmailMessage]:
        """At least `count` messages about the dossier (whose subject contains `subject_containing`);
        more may have arrived, in the order they did."""

        def received() -> list[EmailMessage]:
            found = self.for_dossier(code, subject_containing)
            assert len(found) >= count, f"{code}: {count} messages wanted, {[m['Subject'] for m in found]}"
            return found

        return await eventually(received, timeout_s=timeout_s, interval_s=0.05)
