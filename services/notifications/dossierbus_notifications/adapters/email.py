from __future__ import annotations

import asyncio
import socket
from email.header import Header
from email.mime.text import MIMEText

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
        # The compat32 classes: the modern EmailMessage re-parses every header it is given, which cost
        # more CPU than the rest of a notification's delivery.
        message = MIMEText(outgoing.body, "plain", "utf-8")
        message["From"] = self.sender
        message["To"] = outgoing.recipient
        message["Subject"] = Header(outgoing.subject, "utf-8", header_name="Subject").encode()
        message["Message-ID"] = f"<{outgoing.message_id}.email@dossierbus>"
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            timeout=self.timeout_s,
            local_hostname=await self.local_hostname(),
        )
