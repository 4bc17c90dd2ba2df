"""The shared messaging machinery on a real broker and a real PostgreSQL: outbox relay order and
concurrency, inbox de-duplication, bounded retries then the DLQ, and DLQ replay."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.structs import ConsumerRecord
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes.messaging_attributes import MESSAGING_MESSAGE_ID
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

from dossierbus_devstack.broker import produce
from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.records import consumer_record
from dossierbus_shared import events
from dossierbus_shared.consumer import PermanentError
from dossierbus_shared.db import after_commit
from dossierbus_shared.db.migrate import upgrade_async
from dossierbus_shared.dlq.replay import read_dead_letters, replay
from dossierbus_shared.envelope import Envelope, header_map
from dossierbus_shared.inbox import inbox
from dossierbus_shared.outbox import OutboxRelay, outbox, stage
from dossierbus_shared.parking import parked
from dossierbus_shared.service import Service
from dossierbus_shared.settings import ServiceSettings
from dossierbus_shared.unit_of_work import UnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations_fixture"
RUN = uuid.uuid4().hex[:8]


class Ping(events.Event):
    """A test-only event on a topic of this test run, so nothing else consumes it."""

    type: ClassVar[str] = "vn.gov.dossierbus.test.ping.v1"
    topic: ClassVar[str] = f"test.{RUN}.ping"
    step: int


@pytest.fixture(autouse=True)
def ping_in_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(events.CATALOGUE, Ping.type, Ping)


def ping(dossier_id: uuid.UUID, step: int) -> Envelope[Ping]:
    return Envelope(
        Ping(dossier_id=dossier_id, dossier_code=f"PING-{dossier_id.hex[:6]}", step=step), source="urn:test"
    )


@pytest.fixture
async def service(kafka_bootstrap: str, database_url: str) -> AsyncIterator[Service]:
    """A bare service with a schema of its own, consuming the ping topic."""
    settings = ServiceSettings(
        service_name=f"t{uuid.uuid4().hex[:10]}",
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        consumer_retries=2,
        consumer_retry_backoff_s=0.01,
    )
    svc = Service(settings, migrations=MIGRATIONS, consumes=[Ping.topic], produces=[Ping.topic])
    yield svc
    await svc.stop()


async def records_with_keys(
    bootstrap: str, topic: str, keys: Iterable[uuid.UUID], count: int
) -> list[ConsumerRecord[bytes, bytes]]:
    """Records of these dossiers; after `count` arrive, waits a little more so a duplicate would show."""
    wanted = {str(key).encode() for key in keys}
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(20):
            while len(found) < count:
                batches = await consumer.getmany(timeout_ms=200)
                found += [r for batch in batches.values() for r in batch if r.key in wanted]
        batches = await consumer.getmany(timeout_ms=500)
        found += [r for batch in batches.values() for r in batch if r.key in wanted]
    finally:
        await consumer.stop()
    return found


def steps_by_dossier(records: list[ConsumerRecord[bytes, bytes]]) -> dict[bytes, list[int]]:
    result: dict[bytes, list[int]] = {}
    for record in records:
        result.setdefault(record.key, []).append(json.loads(record.value)["step"])
    return result


async def test_staged_events_are_published_in_order_with_cloudevents_headers(service: Service) -> None:
    await service.start()
    dossier = uuid.uuid4()
    async with service.db.transaction() as session:  # staged one by one, written together at commit
        for step in range(3):
            await stage(session, ping(dossier, step))
    for step in range(3, 5):
        async with service.db.transaction() as session:
            await stage(session, ping(dossier, step))
    records = await records_with_keys(service.settings.kafka_bootstrap_servers, Ping.topic, [dossier], 5)
    assert steps_by_dossier(records) == {str(dossier).encode(): [0, 1, 2, 3, 4]}
    headers = header_map(records[0].headers)
    assert headers["ce_type"] == Ping.type
    assert headers["ce_subject"] == f"PING-{dossier.hex[:6]}"
    assert headers["content-type"] == "application/json"
    assert headers["traceparent"].startswith("00-")
    async with service.db.transaction() as session:
        unsent = await session.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
        )
    assert unsent == 0


async def test_a_commit_wakes_its_processs_relay_without_waiting_for_a_poll(service: Service) -> None:
    service.relay.poll_interval_s = 3600  # the first poll, at start, finds nothing; no other comes
    await service.start()
    dossier = uuid.uuid4()
    await asyncio.sleep(0.2)  # the relay has made its first round and waits
    async with service.db.transaction() as session:
        await stage(session, ping(dossier, 0))
    records = await records_with_keys(service.settings.kafka_bootstrap_servers, Ping.topic, [dossier], 1)
    assert steps_by_dossier(records) == {str(dossier).encode(): [0]}


async def test_a_rolled_back_transaction_publishes_nothing(service: Service) -> None:
    await service.start()
    dossier = uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with service.db.transaction() as session:
            await stage(session, ping(dossier, 0))
            raise RuntimeError("the state change failed")
    async with service.db.transaction() as session:
        await stage(session, ping(dossier, 1))
    records = await records_with_keys(service.settings.kafka_bootstrap_servers, Ping.topic, [dossier], 1)
    assert steps_by_dossier(records) == {str(dossier).encode(): [1]}


async def test_after_commit_hooks_run_only_once_the_transaction_has_committed(service: Service) -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError):
        async with service.db.transaction() as session:
            after_commit(session, lambda: ran.append("rolled back"))
            raise RuntimeError("the state change failed")
    async with service.db.transaction() as session:
        after_commit(session, lambda: ran.append("committed"))
        await session.execute(text("SELECT 1"))
        assert ran == []
    assert ran == ["committed"]


async def relay_ready(service: Service) -> ServiceSettings:
    """The service's schema migrated and its producer started, without its consumer: relays run by hand."""
    settings = service.settings
    await upgrade_async(settings.database_url, settings.db_schema, MIGRATIONS)
    await service.producer.start()
    return settings


async def test_two_relays_share_the_outbox_without_duplicates_or_reordering(service: Service) -> None:
    settings = await relay_ready(service)
    dossiers = [uuid.uuid4() for _ in range(25)]
    for step in range(3):
        async with service.db.transaction() as session:
            await stage(session, *(ping(dossier, step) for dossier in dossiers))
    relays = [OutboxRelay(service.db, service.producer, batch_size=7) for _ in range(2)]
    while sum(await asyncio.gather(*(relay.publish_batch() for relay in relays))):
        pass
    records = await records_with_keys(settings.kafka_bootstrap_servers, Ping.topic, dossiers, 75)
    assert len(records) == 75
    assert set(map(tuple, steps_by_dossier(records).values())) == {(0, 1, 2)}


async def test_a_relay_leaves_a_dossier_whose_earlier_row_another_relay_holds(service: Service) -> None:
    settings = await relay_ready(service)
    first, second = uuid.uuid4(), uuid.uuid4()
    async with service.db.transaction() as session:
        await stage(session, ping(first, 0), ping(second, 0), ping(first, 1))
    relay = OutboxRelay(service.db, service.producer)
    async with service.db.transaction() as other_relay:  # holds the first dossier's step 0
        await other_relay.execute(select(outbox.c.id).order_by(outbox.c.id).limit(1).with_for_update())
        assert await relay.publish_batch() == 1, "only the second dossier's row: step 1 waits for step 0"
    assert await relay.publish_batch() == 2
    records = await records_with_keys(settings.kafka_bootstrap_servers, Ping.topic, [first, second], 3)
    assert steps_by_dossier(records) == {str(first).encode(): [0, 1], str(second).encode(): [0]}


async def test_a_batch_the_broker_refuses_stays_unsent_and_goes_once_it_can(service: Service) -> None:
    settings = await relay_ready(service)
    dossier, other = uuid.uuid4(), uuid.uuid4()
    async with service.db.transaction() as session:
        await stage(session, ping(dossier, 0), ping(other, 0))  # written as this transaction commits
    async with service.db.transaction() as session:
        # Larger than the producer may send (1 MiB): the broker never takes this batch as it is.
        oversized = json.dumps({"padding": "x" * 2_000_000})
        await session.execute(outbox.update().where(outbox.c.key == str(other)).values(payload=oversized))
    relay = OutboxRelay(service.db, service.producer)
    with pytest.raises(MessageSizeTooLargeError):
        await relay.publish_batch()

    async def unsent() -> int:
        async with service.db.transaction() as session:
            return int(await session.scalar(select(func.count()).where(outbox.c.sent_at.is_(None))) or 0)

    assert await unsent() == 2, "the rows were marked sent only in the transaction the failure rolled back"
    async with service.db.transaction() as session:
        await session.execute(outbox.delete().where(outbox.c.key == str(other)))
    assert await relay.publish_batch() == 1
    assert await unsent() == 0
    records = await records_with_keys(settings.kafka_bootstrap_servers, Ping.topic, [dossier, other], 1)
    # At least once: what the failed batch had handed the broker before the refusal goes again (the
    # consumers' inboxes make it one effect); the refused row never went.
    assert set(steps_by_dossier(records)) == {str(dossier).encode()}


async def test_a_redelivered_event_has_one_effect(service: Service) -> None:
    effects: list[int] = []
    envelope = ping(uuid.uuid4(), 7)

    @service.consumer.on(Ping)
    async def count(work: UnitOfWork, received: Envelope[Ping]) -> None:
        if received.data.dossier_id == envelope.data.dossier_id:  # the topic also holds earlier tests' pings
            # An effect is what commits: a batch that holds a redelivery runs its handlers, then fails to
            # commit (the inbox's key) and goes again record by record, the redelivery skipped.
            work.after_commit(lambda: effects.append(received.data.step))

    def duplicates() -> float:
        labels = {"topic": Ping.topic, "event_type": Ping.type, "outcome": "duplicate"}
        return REGISTRY.get_sample_value("dossierbus_events_consumed_total", labels) or 0

    bootstrap = service.settings.kafka_bootstrap_servers
    await produce(bootstrap, [envelope, envelope])  # before the consumer starts: both in one fetch
    await service.start()
    await wait_for_inbox(service, envelope.data.dossier_id, 1)
    await produce(bootstrap, [envelope])  # and once more, in a later fetch
    await eventually(lambda: duplicates() == 2)
    assert effects == [7]
    async with service.db.transaction() as session:
        recorded = await session.scalar(
            select(func.count()).select_from(inbox).where(inbox.c.event_id == envelope.id)
        )
    assert recorded == 1


async def test_a_redelivery_in_a_batch_costs_a_second_try_and_the_fresh_records_are_applied_once(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    effects: list[int] = []
    dossier = uuid.uuid4()
    seen, fresh = ping(dossier, 1), ping(dossier, 2)

    @service.consumer.on(Ping)
    async def count(work: UnitOfWork, received: Envelope[Ping]) -> None:
        if received.data.dossier_id == dossier:
            work.after_commit(lambda: effects.append(received.data.step))

    def fetched(envelope: Envelope[Ping], offset: int) -> ConsumerRecord[bytes, bytes]:
        kafka = envelope.to_kafka()
        return consumer_record(kafka.topic, kafka.value, key=kafka.key, offset=offset, headers=kafka.headers)

    await service.start()  # its schema; the records below are handed to its consumer, not produced
    await service.consumer.process_batch([fetched(seen, 1)])
    with caplog.at_level(logging.INFO, logger="dossierbus_shared.consumer"):
        await service.consumer.process_batch([fetched(seen, 1), fetched(fresh, 2)])  # its offset was lost
    assert "a batch of 2 records held a redelivered event; applying them one by one" in caplog.messages
    assert f"duplicate {Ping.type} {seen.id} ignored" in caplog.messages
    assert effects == [1, 2]  # committed once each
    assert (await inbox_transactions(service, dossier))[0] == 2


async def test_a_redelivery_whose_handler_fails_in_a_batch_is_a_duplicate_not_a_dead_letter(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    effects: list[int] = []
    dead_letters: list[str] = []
    dossier = uuid.uuid4()
    seen, fresh = ping(dossier, 1), ping(dossier, 2)

    @service.consumer.on(Ping)
    async def count(work: UnitOfWork, received: Envelope[Ping]) -> None:
        if received.data.dossier_id != dossier:
            return
        if received.data.step in effects:  # what a real handler may say of a command applied already
            raise PermanentError(f"step {received.data.step} was applied already")
        work.after_commit(lambda: effects.append(received.data.step))

    async def publish(record: ConsumerRecord[bytes, bytes], **why: Any) -> None:
        dead_letters.append(why["reason"])

    def fetched(envelope: Envelope[Ping], offset: int) -> ConsumerRecord[bytes, bytes]:
        kafka = envelope.to_kafka()
        return consumer_record(kafka.topic, kafka.value, key=kafka.key, offset=offset, headers=kafka.headers)

    await service.start()
    service.consumer.dead_letters.publish = publish  # type: ignore[method-assign]
    await service.consumer.process_batch([fetched(seen, 1)])
    with caplog.at_level(logging.INFO, logger="dossierbus_shared.consumer"):
        await service.consumer.process_batch([fetched(seen, 1), fetched(fresh, 2)])
    assert dead_letters == []
    assert f"duplicate {Ping.type} {seen.id} ignored" in caplog.messages
    assert effects == [1, 2]


async def test_failing_handler_is_retried_then_dead_lettered_and_replay_brings_it_back(
    service: Service,
) -> None:
    attempts: list[int] = []
    healthy = asyncio.Event()
    dossier, other = uuid.uuid4(), uuid.uuid4()

    @service.consumer.on(Ping)
    async def flaky(work: UnitOfWork, envelope: Envelope[Ping]) -> None:
        if envelope.data.dossier_id not in (dossier, other):  # the topic also holds earlier tests' pings
            return
        attempts.append(envelope.data.step)
        if envelope.data.step == 13 and not healthy.is_set():
            raise ValueError("step 13 cannot be applied")

    await service.start()
    # One key, so one partition: `after` waits behind the poison, then is parked behind its dead letter.
    poison, after = ping(dossier, 13), ping(dossier, 14)
    await produce(service.settings.kafka_bootstrap_servers, [poison, after, ping(other, 15)])
    await eventually(lambda: 15 in attempts)  # another dossier is not held up
    await wait_for_parked(service, dossier, 2)
    assert attempts.count(13) == 3  # the first try and two retries (consumer_retries=2)
    assert 14 not in attempts

    letters = [
        letter
        async for letter, _ in read_dead_letters(
            service.settings.kafka_bootstrap_servers, Ping.topic + ".dlq"
        )
    ]
    mine = [letter for letter in letters if letter.event_id == str(poison.id)]
    assert len(mine) == 1
    assert mine[0].failure["reason"] == "step 13 cannot be applied"
    assert mine[0].failure["error_type"] == "ValueError"
    assert mine[0].failure["attempts"] == "3"
    assert mine[0].original_topic == Ping.topic

    healthy.set()
    replayed = await replay(
        service.settings.kafka_bootstrap_servers, Ping.topic + ".dlq", event_ids={str(poison.id)}
    )
    assert [letter.event_id for letter in replayed.replayed] == [str(poison.id)]
    await eventually(lambda: 14 in attempts)  # released once the replayed poison is applied
    assert attempts[-2:] == [13, 14]
    await wait_for_parked(service, dossier, 0)


async def parked_rows(service: Service, dossier: uuid.UUID) -> int:
    async with service.db.transaction() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(parked).where(parked.c.dossier_key == str(dossier))
            )
            or 0
        )


async def wait_for_parked(service: Service, dossier: uuid.UUID, rows: int) -> None:
    """Until the dossier has `rows` rows in `parked` (its dead-letter marker and the records behind it)."""

    async def parked() -> None:
        assert await parked_rows(service, dossier) == rows

    await eventually(parked)


async def inbox_transactions(service: Service, dossier: uuid.UUID) -> tuple[int, int]:
    """(inbox rows, distinct transactions that wrote them) for one dossier's pings."""
    async with service.db.transaction() as session:
        rows, transactions = (
            await session.execute(
                text("SELECT count(*), count(DISTINCT xmin::text) FROM inbox WHERE subject = :subject"),
                {"subject": f"PING-{dossier.hex[:6]}"},
            )
        ).one()
    return rows, transactions


async def wait_for_inbox(service: Service, dossier: uuid.UUID, rows: int) -> tuple[int, int]:
    async def applied() -> tuple[int, int]:
        found = await inbox_transactions(service, dossier)
        assert found[0] >= rows, f"{found[0]} of {rows} inbox rows"
        return found

    found = await eventually(applied)
    assert found[0] == rows
    return found


class CountingUnitOfWork(UnitOfWork):
    """Notes what each unit of work that committed was asked to load, what its handlers handled, and its
    flush (one rolled back, e.g. by an earlier test's redelivered ping in its fetch, is not noted)."""

    works: ClassVar[list[CountingUnitOfWork]] = []

    def __init__(self, session: Any) -> None:
        super().__init__(session)
        self.loaded: list[int] = []
        self.handled: list[int] = []
        self.flushed = False
        self.after_commit(functools.partial(CountingUnitOfWork.works.append, self))

    async def load(self, envelopes: Any) -> None:
        self.loaded += [envelope.data.step for envelope in envelopes]

    async def flush(self) -> None:
        self.flushed = True


async def test_records_fetched_together_are_applied_in_one_transaction(service: Service) -> None:
    dossier = uuid.uuid4()
    applied: list[int] = []
    service.consumer.unit_of_work = CountingUnitOfWork

    @service.consumer.on(Ping)
    async def record(work: CountingUnitOfWork, envelope: Envelope[Ping]) -> None:
        if envelope.data.dossier_id == dossier:
            work.after_commit(functools.partial(applied.append, envelope.data.step))
            work.handled.append(envelope.data.step)

    # Published before the consumer starts, so its first fetch holds them all (one key: one partition).
    await produce(service.settings.kafka_bootstrap_servers, (ping(dossier, step) for step in range(20)))
    await service.start()
    _, transactions = await wait_for_inbox(service, dossier, 20)
    assert applied == list(range(20))
    assert transactions < 20  # one per record before batching; one per fetch now
    # One unit of work per transaction, loaded once with every record it then handled, before the first.
    works = [work for work in CountingUnitOfWork.works if work.handled]
    assert len(works) == transactions
    assert max(len(work.handled) for work in works) > 1
    for work in works:
        assert set(work.handled) <= set(work.loaded)
        assert work.flushed


async def test_events_that_concern_no_handler_are_acknowledged_without_a_transaction(
    service: Service,
) -> None:
    dossier = uuid.uuid4()
    pings = [ping(dossier, step) for step in range(6)]
    seen: set[int] = set()  # every step the handler was given, committed or not
    applied: list[int] = []

    @service.consumer.on(Ping, when=lambda envelope: envelope.data.step % 2 == 0)
    async def record(work: UnitOfWork, envelope: Envelope[Ping]) -> None:
        if envelope.data.dossier_id == dossier:
            seen.add(envelope.data.step)
            # What commits: an earlier test's redelivered ping in the same fetch rolls the batch back,
            # and its records are then applied one by one.
            work.after_commit(functools.partial(applied.append, envelope.data.step))

    def ignored() -> float:
        labels = {"topic": Ping.topic, "event_type": Ping.type, "outcome": "ignored"}
        return REGISTRY.get_sample_value("dossierbus_events_consumed_total", labels) or 0

    spans = InMemorySpanExporter()
    service.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    before = ignored()
    await produce(service.settings.kafka_bootstrap_servers, pings)
    await service.start()
    await wait_for_inbox(service, dossier, 3)  # only the even steps leave an inbox row
    assert applied == [0, 2, 4]
    assert seen == {0, 2, 4}
    assert ignored() - before >= 3  # earlier tests' odd pings on the topic count too
    # Counted, not traced: only the records handed to the handler have a span.
    code = pings[0].data.dossier_code
    traced = [span for span in spans.get_finished_spans() if span.attributes.get("dossier.code") == code]
    assert {span.name for span in traced} == {f"process {Ping.topic}"}
    assert {span.attributes.get(MESSAGING_MESSAGE_ID) for span in traced} == {str(p.id) for p in pings[::2]}


def test_an_event_type_takes_one_handler_only(service: Service) -> None:
    async def first(work: UnitOfWork, envelope: Envelope[Ping]) -> None: ...

    service.consumer.on(Ping)(first)
    with pytest.raises(ValueError, match="already has a handler"):
        service.consumer.on(Ping)(first)


async def test_a_failing_record_rolls_its_batch_back_and_those_before_it_are_applied_once(
    service: Service,
) -> None:
    dossier = uuid.uuid4()
    calls: list[int] = []

    @service.consumer.on(Ping)
    async def flaky(work: UnitOfWork, envelope: Envelope[Ping]) -> None:
        if envelope.data.dossier_id == dossier:
            calls.append(envelope.data.step)
            if envelope.data.step == 5:
                raise ValueError("step 5 cannot be applied")

    await produce(service.settings.kafka_bootstrap_servers, (ping(dossier, step) for step in range(10)))
    await service.start()
    await wait_for_parked(service, dossier, 5)  # the dead letter, and 6 to 9 parked behind it
    # The poison had its tries (the batch's, then two retries alone) and went to the DLQ ...
    assert calls.count(5) == 3
    letters = [
        letter
        async for letter, _ in read_dead_letters(
            service.settings.kafka_bootstrap_servers, Ping.topic + ".dlq"
        )
        if letter.key == str(dossier).encode()
    ]
    assert [(letter.failure["error_type"], letter.failure["attempts"]) for letter in letters] == [
        ("ValueError", "3")
    ]
    # ... those before it in its batch were applied again one by one, each taking effect once, and those
    # after it wait behind its dead letter, their event ids not spent.
    assert sorted(set(calls)) == [0, 1, 2, 3, 4, 5]
    assert (await inbox_transactions(service, dossier))[0] == 5


async def test_shutdown_hooks_run_when_the_service_stops_even_if_one_fails(
    kafka_bootstrap: str, database_url: str
) -> None:
    settings = ServiceSettings(
        service_name=f"t{uuid.uuid4().hex[:10]}",
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
    )
    service = Service(settings, migrations=MIGRATIONS)
    closed: list[str] = []

    @service.on_shutdown
    async def failing() -> None:
        closed.append("failing")
        raise ConnectionError("already gone")

    @service.on_shutdown
    async def close_client() -> None:
        closed.append("client")

    await service.start()
    assert closed == []
    await service.stop()
    assert closed == ["failing", "client"]


async def test_replaying_a_topic_that_is_not_a_dlq_is_refused(kafka_bootstrap: str) -> None:
    with pytest.raises(ValueError, match="not a dead-letter topic"):
        await replay(kafka_bootstrap, Ping.topic)


async def test_a_started_service_freezes_what_starting_made_unless_told_not_to(service: Service) -> None:
    await service.start()  # the test suite's setting: GC_FREEZE_AT_START=false
    assert gc.get_freeze_count() == 0
    settings = service.settings.model_copy(update={"gc_freeze_at_start": True})
    frozen = Service(settings, migrations=MIGRATIONS, consumes=[Ping.topic], produces=[Ping.topic])
    try:
        await frozen.start()
        # Out of the collector's sight: the modules, the app and what starting made.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()  # this test process starts many services: nothing of it stays frozen
        await frozen.stop()
