"""A dead-lettered record holds back the later records of its dossier, on the real broker and PostgreSQL:
an agency's `processing` report is dead-lettered, its `result_ready` and `returned` are parked behind it
(not refused as illegal transitions, their event ids not spent), and replaying the dead letter applies all
three in order. An operator can instead discard a dossier's parked records."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import func, select

from dossierbus_devstack.broker import produce
from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.records import consumer_record
from dossierbus_shared import events, parking_cli
from dossierbus_shared.db import Database
from dossierbus_shared.dlq.replay import read_dead_letters, replay
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.inbox import inbox
from dossierbus_shared.parking import mark_dead_lettered, parked
from dossierbus_shared.service import Service
from dossierbus_shared.settings import ServiceSettings
from dossierbus_shared.unit_of_work import UnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations_fixture"
RUN = uuid.uuid4().hex[:8]
NEXT = {"accepted": "processing", "processing": "result_ready", "result_ready": "returned"}


class Reported(events.Event):
    """A test-only agency report on a topic of this test run."""

    type: ClassVar[str] = "vn.gov.dossierbus.test.reported.v1"
    topic: ClassVar[str] = f"test.{RUN}.reported"
    status: str


@pytest.fixture(autouse=True)
def reported_in_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(events.CATALOGUE, Reported.type, Reported)


def report(dossier: uuid.UUID, status: str) -> Envelope[Reported]:
    return Envelope(
        Reported(dossier_id=dossier, dossier_code=f"R-{dossier.hex[:6]}", status=status), source="urn:agency"
    )


class Dossiers:
    """A state machine like routing's: a report out of order is refused (ignored, its id spent)."""

    def __init__(self) -> None:
        self.status: dict[uuid.UUID, str] = {}
        self.refused: list[str] = []
        self.broken = True  # the `processing` report fails until the operator has repaired the cause

    async def apply(self, work: UnitOfWork, envelope: Envelope[Reported]) -> None:
        dossier, requested = envelope.data.dossier_id, envelope.data.status
        if requested == "processing" and self.broken:
            raise ValueError("the agency's processing report cannot be stored")
        current = self.status.get(dossier, "accepted")
        if NEXT.get(current) != requested:
            self.refused.append(f"{current} -> {requested}")
            return
        self.status[dossier] = requested


@pytest.fixture
async def service(kafka_bootstrap: str, database_url: str) -> AsyncIterator[Service]:
    settings = ServiceSettings(
        service_name=f"t{uuid.uuid4().hex[:10]}",
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        consumer_retries=1,
        consumer_retry_backoff_s=0.01,
    )
    svc = Service(settings, migrations=MIGRATIONS, consumes=[Reported.topic], produces=[Reported.topic])
    yield svc
    await svc.stop()


async def rows(service: Service, dossier: uuid.UUID) -> list[tuple[str, bool]]:
    """The dossier's rows in `parked`, in order: (event type's status, is the dead letter)."""
    async with service.db.transaction() as session:
        found = await session.execute(
            select(parked.c.event_id, parked.c.dead_lettered)
            .where(parked.c.dossier_key == str(dossier))
            .order_by(parked.c.id)
        )
        return [(str(event_id), dead) for event_id, dead in found]


async def spent(service: Service, *envelopes: Envelope[Reported]) -> int:
    async with service.db.transaction() as session:
        ids = [envelope.id for envelope in envelopes]
        return int(
            await session.scalar(select(func.count()).select_from(inbox).where(inbox.c.event_id.in_(ids)))
            or 0
        )


async def wait_for(service: Service, dossier: uuid.UUID, expected: list[tuple[str, bool]]) -> None:
    async def parked_as_expected() -> None:
        assert await rows(service, dossier) == expected

    await eventually(parked_as_expected)


async def test_reports_behind_a_dead_letter_wait_and_the_replay_applies_them_in_order(
    service: Service,
) -> None:
    dossiers = Dossiers()
    service.consumer.on(Reported)(dossiers.apply)
    await service.start()
    bootstrap = service.settings.kafka_bootstrap_servers
    dossier = uuid.uuid4()
    processing, result_ready, returned = (
        report(dossier, s) for s in ("processing", "result_ready", "returned")
    )
    await produce(bootstrap, [processing, result_ready, returned])

    await wait_for(
        service,
        dossier,
        [(str(processing.id), True), (str(result_ready.id), False), (str(returned.id), False)],
    )
    assert dossiers.status.get(dossier) is None  # still accepted: nothing applied out of order
    assert await spent(service, processing, result_ready, returned) == 0
    letters = [
        letter
        async for letter, _ in read_dead_letters(bootstrap, Reported.topic + ".dlq")
        if letter.key == str(dossier).encode()
    ]
    assert [letter.event_id for letter in letters] == [str(processing.id)]

    dossiers.broken = False
    await replay(bootstrap, Reported.topic + ".dlq", event_ids={str(processing.id)})
    await wait_for(service, dossier, [])
    await eventually(lambda: dossiers.status.get(dossier) == "returned")
    assert await spent(service, processing, result_ready, returned) == 3
    assert dossiers.refused == []

    # A later report of the dossier is applied at once again (here refused: the dossier is final).
    await produce(bootstrap, [report(dossier, "processing")])
    await eventually(lambda: "returned -> processing" in dossiers.refused)
    assert await rows(service, dossier) == []


async def test_an_operator_discards_the_records_parked_behind_a_dead_letter(
    service: Service, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dossiers = Dossiers()
    service.consumer.on(Reported)(dossiers.apply)
    await service.start()
    dossier = uuid.uuid4()
    processing, result_ready = report(dossier, "processing"), report(dossier, "result_ready")
    await produce(service.settings.kafka_bootstrap_servers, [processing, result_ready])
    await wait_for(service, dossier, [(str(processing.id), True), (str(result_ready.id), False)])

    monkeypatch.setenv("DATABASE_URL", service.settings.database_url)
    monkeypatch.setenv("SERVICE_NAME", service.settings.service_name)
    assert await asyncio.to_thread(parking_cli.main, ["list"]) == 0
    listed = capsys.readouterr().out
    assert f"dossier={dossier} event={processing.id}" in listed and "DEAD LETTER" in listed
    assert await asyncio.to_thread(parking_cli.main, ["discard", str(dossier)]) == 0
    assert await rows(service, dossier) == []
    assert await asyncio.to_thread(parking_cli.main, ["discard", str(dossier)]) == 1

    dossiers.broken = False
    await produce(service.settings.kafka_bootstrap_servers, [report(dossier, "processing")])
    await eventually(lambda: dossiers.status.get(dossier) == "processing")


async def test_a_dead_letter_another_replica_wrote_holds_back_the_dossier_here_too(service: Service) -> None:
    dossiers = Dossiers()
    dossiers.broken = False
    service.consumer.on(Reported)(dossiers.apply)
    await service.start()
    watch = service.consumer.parked
    await eventually(lambda: watch.none_waiting)  # nothing parked: batches are not checked against it
    dossier = uuid.uuid4()
    processing, result_ready = report(dossier, "processing"), report(dossier, "result_ready")
    # Another replica of the group dead-letters the dossier's processing report, over its own connection.
    other_replica = Database(service.settings.database_url, service.settings.db_schema)
    try:
        async with other_replica.transaction() as session:
            await mark_dead_lettered(
                session,
                service.consumer.consumer_group,
                str(dossier),
                consumer_record(Reported.topic, None, key=str(dossier).encode()),
                processing.id,
                Reported.type,
                "the agency's processing report cannot be stored",
            )
    finally:
        await other_replica.dispose()
    await eventually(lambda: not watch.none_waiting)

    await produce(service.settings.kafka_bootstrap_servers, [result_ready])
    await wait_for(service, dossier, [(str(processing.id), True), (str(result_ready.id), False)])
    assert dossiers.status.get(dossier) is None  # not applied out of order, its id not spent
    assert await spent(service, result_ready) == 0
