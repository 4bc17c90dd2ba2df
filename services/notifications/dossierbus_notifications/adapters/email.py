from __future__ import annotations

import asyncio
import socket
from email.message import EmailMessage

import aiosmtplib

from dossierbus_notifications.channels import Outgoing


class EmailChannel:
    """Email over SMTP. The Message-ID is derived from the notification, so a resend after a crash
    between sending and recording carries the same id and mail systems can drop the copy."""

    name = "email"

    def __init__(self, host: str, port: int, sender: str, timeout_s: float) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout_s = timeout_s
        self._local_hostname: str | None = None

    async def local_hostname(self) -> str:
        """The name this host gives in EHLO, looked up once (aiosmtplib would look it up per message)."""
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        return self._local_hostname

    async def send(self, outgoing: Outgoing) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = outgoing.recipient
        message["Subject"] = outgoing.subject
        message["Message-ID"] = f"<{outgoing.message_id}.email@dossierbus>"
        message.set_content(outgoing.body)
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            timeout=self.timeout_s,
            local_hostname=await self.local_hostname(),
        )
