"""The email channel against a real SMTP server started here: messages share a few pooled connections,
and a connection the server dropped while it idled is not the one a message is sent on."""

from __future__ import annotations

import asyncio
import email
import email.policy
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.parts import free_port
from dossierbus_notifications.adapters.email import EmailChannel, SmtpPool
from dossierbus_notifications.channels import Outgoing


class Mailbox:
    """Keeps each message with the client address (host, port) of the connection it came over."""

    def __init__(self) -> None:
        self.received: list[tuple[Any, email.message.Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((session.peer, message))
        return "250 OK"

    @property
    def connections(self) -> set[Any]:
        return {peer for peer, _ in self.received}


@contextmanager
def smtp_server(idle_timeout_s: float) -> Iterator[tuple[Mailbox, int]]:
    """The server drops a client idle for `idle_timeout_s`, as mail servers do (sooner than they do)."""
    box, port = Mailbox(), free_port()
    server = Controller(box, hostname="127.0.0.1", port=port, timeout=idle_timeout_s)
    server.start()
    try:
        yield box, port
    finally:
        server.stop()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server(idle_timeout_s=1.0) as serving:
        yield serving


@pytest.fixture
def impatient_mailbox() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server(idle_timeout_s=0.2) as serving:
        yield serving


def outgoing(number: int) -> Outgoing:
    return Outgoing(uuid.uuid4(), f"citizen{number}@example.vn", f"Hồ sơ {number}", "Đã tiếp nhận.", 1)


async def test_messages_share_the_pools_connections(mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    pool = SmtpPool("127.0.0.1", port, timeout_s=10, size=3)
    channel = EmailChannel("no-reply@dossierbus.gov.vn", pool)
    messages = [outgoing(number) for number in range(30)]
    try:
        await asyncio.gather(*(channel.send(message) for message in messages))
    finally:
        await pool.close()

    assert len(box.received) == 30
    assert 1 <= len(box.connections) <= 3
    assert sorted(str(message["Message-ID"]) for _, message in box.received) == sorted(
        f"<{message.event_id}.email@dossierbus>" for message in messages
    )
    assert {str(message["Subject"]) for _, message in box.received} == {f"Hồ sơ {n}" for n in range(30)}


async def test_a_connection_the_server_dropped_is_replaced(impatient_mailbox: tuple[Mailbox, int]) -> None:
    box, port = impatient_mailbox
    pool = SmtpPool("127.0.0.1", port, timeout_s=10, size=1)
    channel = EmailChannel("no-reply@dossierbus.gov.vn", pool)
    try:
        await channel.send(outgoing(1))
        await channel.send(outgoing(2))
        async with pool.connection() as idle:  # the pool's one connection, which carried both
            pass
        # It idles past the server's timeout: the server hangs up, and the client has seen it.
        await eventually(lambda: not idle.is_connected, interval_s=0.02)
        await channel.send(outgoing(3))
    finally:
        await pool.close()

    [first, second, third] = [peer for peer, _ in box.received]
    assert first == second
    assert third != first
