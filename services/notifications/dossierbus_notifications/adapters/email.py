"""Email over SMTP, through a pool of open connections: a message costs its own commands (MAIL, RCPT,
DATA), not a connection, a greeting, EHLO and STARTTLS of its own."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from email.header import Header
from email.mime.text import MIMEText

import aiosmtplib

from dossierbus_notifications.channels import Outgoing

IDLE_S = 30.0
"""A connection idle longer than this is closed rather than reused: mail servers drop idle clients (RFC 5321
lets them after 5 minutes; some do much sooner), and a message must not be the one to find out."""


class SmtpPool:
    def __init__(self, host: str, port: int, *, timeout_s: float, size: int, idle_s: float = IDLE_S) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.idle_s = idle_s
        self._open = asyncio.Semaphore(size)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._local_hostname: str | None = None

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[aiosmtplib.SMTP]:
        """An open connection, to the pool again once the message is sent; closed when it failed, as the
        state of the conversation is then unknown."""
        async with self._open:
            client = self._reusable() or await self._connect()
            try:
                yield client
            except BaseException:
                client.close()
                raise
            self._idle.append((client, time.monotonic()))

    async def close(self) -> None:
        while self._idle:
            client, _ = self._idle.pop()
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()

    def _reusable(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client, since = self._idle.pop()  # the most recently used: the likeliest to be alive
            if client.is_connected and time.monotonic() - since < self.idle_s:
                return client
            client.close()
        return None

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout_s,
            local_hostname=await self._hostname(),
        )
        await client.connect()
        return client

    async def _hostname(self) -> str:
        """The name this host gives in EHLO, looked up once (aiosmtplib would look it up per connection)."""
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        return self._local_hostname


class EmailChannel:
    """The Message-ID is derived from the notification, so a resend after a crash between sending and
    recording carries the same id and mail systems can drop the copy."""

    name = "email"

    def __init__(self, sender: str, pool: SmtpPool) -> None:
        self.sender = sender
        self.pool = pool

    async def send(self, outgoing: Outgoing) -> None:
        # The compat32 classes: the modern EmailMessage re-parses every header it is given, which cost
        # more CPU than the rest of a notification's delivery.
        message = MIMEText(outgoing.body, "plain", "utf-8")
        message["From"] = self.sender
        message["To"] = outgoing.recipient
        message["Subject"] = Header(outgoing.subject, "utf-8", header_name="Subject").encode()
        message["Message-ID"] = f"<{outgoing.message_id}.email@dossierbus>"
        async with self.pool.connection() as smtp:
            await smtp.send_message(message)
