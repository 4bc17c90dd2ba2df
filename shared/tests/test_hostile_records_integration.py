"""Hostile records on a real broker: whatever bytes a record holds, a consumer applies it or dead-letters it
with its reason, applies its neighbours of the same fetch, and keeps consuming.

The hostile records are written as raw record batches (aiokafka's producer refuses header names that are
not UTF-8 and values over its limit), so the broker holds exactly those bytes; each batch also holds a
genuine record of another dossier, so both arrive in the same fetch.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy
from aiokafka.record.util import calc_crc32c
from aiokafka.structs import ConsumerRecord

from dossierbus_devstack.eventually import eventually
from dossierbus_shared import events
from dossierbus_shared.dlq import DeadLetter, DeadLetterPublisher
from dossierbus_shared.dlq.cli import cannot_replay
from dossierbus_shared.dlq.replay import fetch_original, read_dead_letters, replay
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.kafka import MAX_MESSAGE_BYTES
from dossierbus_shared.service import Service
from dossierbus_shared.settings import ServiceSettings
from dossierbus_shared.subscription import Backoff
from dossierbus_shared.unit_of_work import UnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations_fixture"
RUN = uuid.uuid4().hex[:8]


class Report(events.Event):
    """A test-only event on a topic of this test run, standing for an agency's reports."""

    type: ClassVar[str] = "vn.gov.dossierbus.test.hostile-report.v1"
    topic: ClassVar[str] = f"test.{RUN}.reports"
    step: int


class BrokenReport(events.Event):
    """The same on a topic of its own, for the test that writes a batch no client can read."""

    type: ClassVar[str] = "vn.gov.dossierbus.test.broken-report.v1"
    topic: ClassVar[str] = f"test.{RUN}.broken-reports"
    step: int


class FlakyReport(events.Event):
    """The same on a topic of its own, for the test whose dead letters fail at first."""

    type: ClassVar[str] = "vn.gov.dossierbus.test.flaky-report.v1"
    topic: ClassVar[str] = f"test.{RUN}.flaky-reports"
    step: int


@pytest.fixture(autouse=True)
def reports_in_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(events.CATALOGUE, Report.type, Report)
    monkeypatch.setitem(events.CATALOGUE, FlakyReport.type, FlakyReport)
    monkeypatch.setitem(events.CATALOGUE, BrokenReport.type, BrokenReport)


Applied = list[tuple[uuid.UUID, int]]


@asynccontextmanager
async def consuming(
    kafka_bootstrap: str, database_url: str, event_type: type[events.Event]
) -> AsyncIterator[tuple[Service, Applied]]:
    """A started service (a consumer group of its own) that records what it applies of `event_type`."""
    settings = ServiceSettings(
        service_name=f"t{uuid.uuid4().hex[:10]}",
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        consumer_retries=1,
        consumer_retry_backoff_s=0.05,
        consumer_retry_backoff_max_s=1.0,
    )
    service = Service(settings, migrations=MIGRATIONS, consumes=[event_type.topic], produces=[])
    applied: Applied = []

    async def apply(work: UnitOfWork, envelope: Envelope[Any]) -> None:
        applied.append((envelope.data.dossier_id, envelope.data.step))

    service.consumer.on(event_type)(apply)
    try:
        yield service, applied
    finally:
        await service.stop()


# --- writing raw record batches ------------------------------------------------------------------------


class RawName(str):
    """A header name written as exactly these bytes, UTF-8 or not: aiokafka's pure-Python batch builder
    writes what `encode()` returns."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawName:
        name = super().__new__(cls, raw.decode("utf-8", "surrogateescape"))
        name.raw = raw
        return name

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]


def genuine(event_type: type[events.Event], step: int) -> tuple[uuid.UUID, Record]:
    dossier = uuid.uuid4()
    data = event_type(dossier_id=dossier, dossier_code=f"HOSTILE-{dossier.hex[:6]}", step=step)  # type: ignore[call-arg]
    record = Envelope(data, source="urn:agency:test").to_kafka()
    return dossier, (record.key, record.value, list(record.headers))


async def write_batch(bootstrap: str, topic: str, partition: int, records: list[Record]) -> int:
    """Append one record batch holding `records` to a partition, as the bytes say; its base offset."""
    return await write_raw(bootstrap, topic, partition, record_batch(records))


def record_batch(records: list[Record]) -> bytes:
    builder = _DefaultRecordBatchBuilderPy(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=64 * 1024 * 1024,
    )
    now = int(time.time() * 1000)
    for offset, (key, value, headers) in enumerate(records):
        assert builder.append(offset, timestamp=now, key=key, value=value, headers=headers) is not None
    return bytes(builder.build())


async def write_raw(bootstrap: str, topic: str, partition: int, batch: bytes) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.partitions_for(topic)
        leader = producer.client.cluster.leader_for_partition(TopicPartition(topic, partition))
        request = ProduceRequest(
            transactional_id=None, required_acks=-1, timeout=30_000, topics=[(topic, [(partition, batch)])]
        )
        response = await producer.client.send(leader, request)
    finally:
        await producer.stop()
    [(_, [(_, error_code, base_offset, *_)])] = response.topics
    assert error_code == 0, f"the broker refused the batch: error {error_code}"
    return int(base_offset)


# --- reading what happened -----------------------------------------------------------------------------


async def letter_of(service: Service, topic: str, partition: int, offset: int) -> DeadLetter:
    """The dead letter this service's group sent for the record at `offset`, once it is there."""
    bootstrap = service.settings.kafka_bootstrap_servers

    async def sent() -> DeadLetter:
        async for letter, _ in read_dead_letters(bootstrap, topic + ".dlq"):
            failure = letter.failure
            if (
                failure.get("consumer_group") == service.settings.consumer_group
                and failure.get("original_partition") == str(partition)
                and failure.get("original_offset") == str(offset)
            ):
                return letter
        raise AssertionError(f"no dead letter yet for {topic}:{partition}@{offset}")

    return await eventually(sent, interval_s=0.2)


async def keeps_consuming(service: Service, applied: Applied, event_type: type[events.Event]) -> None:
    """A record produced afterwards the ordinary way is applied too."""
    dossier, (key, value, headers) = genuine(event_type, 99)
    producer = AIOKafkaProducer(bootstrap_servers=service.settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(event_type.topic, value, key=key, headers=headers)
    finally:
        await producer.stop()
    await eventually(lambda: (dossier, 99) in applied)


# --- the cases -----------------------------------------------------------------------------------------


async def test_a_header_name_that_is_not_utf8_is_dead_lettered_and_its_neighbour_applied(
    kafka_bootstrap: str, database_url: str
) -> None:
    _, (key, value, headers) = genuine(Report, 1)
    hostile: Record = (key, value, [*headers, (RawName(b"x-\xff\xfe"), b"whatever")])
    neighbour, neighbour_record = genuine(Report, 2)
    offset = await write_batch(kafka_bootstrap, Report.topic, 0, [hostile, neighbour_record])

    async with consuming(kafka_bootstrap, database_url, Report) as (service, applied):
        await service.start()
        await eventually(lambda: (neighbour, 2) in applied)
        letter = await letter_of(service, Report.topic, 0, offset)
        assert letter.failure["reason"] == "header name b'x-\\xff\\xfe' is not UTF-8"
        assert letter.failure["error_type"] == "MalformedEvent"
        assert letter.value == value
        # The name no producer can send again is kept by its bytes, the value unchanged.
        assert ("dlq_header_hex_782dfffe", b"whatever") in letter.headers
        # The operator can still read the original from its topic.
        original = await fetch_original(kafka_bootstrap, Report.topic, 0, offset)
        assert [name.encode("utf-8", "surrogateescape") for name, _ in original.headers][-1] == b"x-\xff\xfe"
        assert [step for _, step in applied] == [2]
        await keeps_consuming(service, applied, Report)


async def test_a_header_value_that_is_not_utf8_is_dead_lettered_and_its_neighbour_applied(
    kafka_bootstrap: str, database_url: str
) -> None:
    _, (key, value, headers) = genuine(Report, 3)
    raw_id = b"\xc3\x28\xa0\xa1-not-utf8"
    hostile: Record = (key, value, [(name, raw_id if name == "ce_id" else data) for name, data in headers])
    neighbour, neighbour_record = genuine(Report, 4)
    offset = await write_batch(kafka_bootstrap, Report.topic, 1, [hostile, neighbour_record])

    async with consuming(kafka_bootstrap, database_url, Report) as (service, applied):
        await service.start()
        await eventually(lambda: (neighbour, 4) in applied)
        letter = await letter_of(service, Report.topic, 1, offset)
        assert letter.failure["reason"] == "header ce_id is not UTF-8"
        assert ("ce_id", raw_id) in letter.headers  # the raw bytes, as they came
        assert letter.original_headers() == hostile[2]
        await keeps_consuming(service, applied, Report)


async def test_data_nested_100000_deep_is_dead_lettered_and_its_neighbour_applied(
    kafka_bootstrap: str, database_url: str
) -> None:
    _, (key, _, headers) = genuine(Report, 5)
    hostile: Record = (key, b"[" * 100_000, headers)
    neighbour, neighbour_record = genuine(Report, 6)
    offset = await write_batch(kafka_bootstrap, Report.topic, 2, [hostile, neighbour_record])

    async with consuming(kafka_bootstrap, database_url, Report) as (service, applied):
        await service.start()
        await eventually(lambda: (neighbour, 6) in applied)
        letter = await letter_of(service, Report.topic, 2, offset)
        assert letter.failure["reason"] == "data is not valid JSON: nested too deep"
        assert letter.failure["attempts"] == "1"  # refused once, not re-read
        assert letter.value == b"[" * 100_000
        await keeps_consuming(service, applied, Report)


async def test_a_5mb_value_is_dead_lettered_by_reference_and_its_neighbour_applied(
    kafka_bootstrap: str, database_url: str
) -> None:
    _, (key, _, headers) = genuine(Report, 7)
    huge = b'{"padding": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    hostile: Record = (key, huge, headers)
    neighbour, neighbour_record = genuine(Report, 8)
    offset = await write_batch(kafka_bootstrap, Report.topic, 3, [hostile, neighbour_record])

    async with consuming(kafka_bootstrap, database_url, Report) as (service, applied):
        await service.start()
        await eventually(lambda: (neighbour, 8) in applied)
        letter = await letter_of(service, Report.topic, 3, offset)
        assert letter.value is None  # not copied ...
        assert letter.by_reference
        failure = letter.failure  # ... but where it is and how to recognise it
        assert failure["original_topic"] == Report.topic
        assert (failure["original_partition"], failure["original_offset"]) == ("3", str(offset))
        assert failure["value_size"] == str(len(huge))
        assert failure["value_sha256"] == hashlib.sha256(huge).hexdigest()
        assert failure["reason"].startswith(f"invalid data for {Report.type}")
        assert letter.original_headers() == headers
        assert len(huge) > MAX_MESSAGE_BYTES
        # Replay cannot send back what the letter does not hold, and says so.
        outcome = await replay(kafka_bootstrap, Report.topic + ".dlq", event_ids={letter.event_id or ""})
        assert outcome.replayed == []
        assert (letter.partition, letter.offset) in [
            (kept.partition, kept.offset) for kept in outcome.by_reference
        ]
        assert f"dossierbus-dlq original {Report.topic} 3 {offset} " in cannot_replay(letter)
        original = await fetch_original(kafka_bootstrap, Report.topic, 3, offset)
        assert hashlib.sha256(original.value or b"").hexdigest() == failure["value_sha256"]
        await keeps_consuming(service, applied, Report)


class FailingAtFirst(DeadLetterPublisher):
    """The service's real dead-letter publisher, behind a broker that refuses dead letters until `healed`;
    when each attempt was made."""

    def __init__(self, publisher: DeadLetterPublisher, healed: Callable[[], bool]) -> None:
        super().__init__(publisher.producer, publisher.consumer_group)
        self.healed = healed
        self.attempts: list[float] = []

    async def publish(self, record: ConsumerRecord[bytes, bytes], **failure: Any) -> None:
        self.attempts.append(time.monotonic())
        if not self.healed():
            raise KafkaConnectionError("the broker refuses the dead letter")
        await super().publish(record, **failure)


async def test_a_dead_letter_that_cannot_be_sent_backs_off_its_partition_while_others_go_on(
    kafka_bootstrap: str, database_url: str
) -> None:
    _, (key, _, headers) = genuine(FlakyReport, 1)
    poison: Record = (key, b"not json", headers)
    behind, behind_record = genuine(FlakyReport, 2)  # same partition, after the poison
    elsewhere, elsewhere_record = genuine(FlakyReport, 3)
    offset = await write_batch(kafka_bootstrap, FlakyReport.topic, 0, [poison, behind_record])
    await write_batch(kafka_bootstrap, FlakyReport.topic, 1, [elsewhere_record])

    async with consuming(kafka_bootstrap, database_url, FlakyReport) as (service, applied):
        # The broker refuses dead letters until the other partition's report is applied and the
        # poison's letter has failed a few times.
        publisher = FailingAtFirst(
            service.consumer.dead_letters,
            healed=lambda: (elsewhere, 3) in applied and len(publisher.attempts) > 4,
        )
        service.consumer.dead_letters = publisher
        await service.start()
        await eventually(lambda: (behind, 2) in applied)
        letter = await letter_of(service, FlakyReport.topic, 0, offset)
        assert letter.failure["error_type"] == "MalformedEvent"
        # The other partition was not held up; the poison's neighbour came after its letter, in order.
        assert applied.index((elsewhere, 3)) < applied.index((behind, 2))
        assert [step for _, step in applied].count(2) == 1
        # Each new attempt waited longer than the one before (doubling, capped): no hot loop.
        backoff = service.subscription.backoff if service.subscription else None
        assert backoff is not None
        gaps = [later - earlier for earlier, later in pairwise(publisher.attempts)]
        assert len(gaps) >= 4
        for failures, gap in enumerate(gaps, start=1):
            assert gap >= backoff.delay(failures) * 0.9, (failures, gaps)
        await keeps_consuming(service, applied, FlakyReport)


async def test_a_batch_no_client_can_parse_is_dead_lettered_whole_and_its_partition_goes_on(
    kafka_bootstrap: str, database_url: str
) -> None:
    _, record = genuine(BrokenReport, 1)
    broken = bytearray(record_batch([record]))
    name_length = broken.index(b"ce_specversion") - 1
    broken[name_length] = 0x7E  # a header name running past the end of its record ...
    broken[17:21] = calc_crc32c(bytes(broken[21:])).to_bytes(4, "big")  # ... under a valid CRC
    offset = await write_raw(kafka_bootstrap, BrokenReport.topic, 0, bytes(broken))
    behind, behind_record = genuine(BrokenReport, 2)
    await write_batch(kafka_bootstrap, BrokenReport.topic, 0, [behind_record])

    async with consuming(kafka_bootstrap, database_url, BrokenReport) as (service, applied):
        await service.start()
        await eventually(lambda: (behind, 2) in applied)
        letter = await letter_of(service, BrokenReport.topic, 0, offset)
        assert letter.failure["error_type"] == "UnreadableRecordBatch"
        assert letter.failure["reason"].startswith("unreadable record batch: CorruptRecordException")
        assert letter.value == bytes(broken)  # the batch as the broker holds it
        await keeps_consuming(service, applied, BrokenReport)


def test_backoff_doubles_from_its_floor_up_to_its_cap() -> None:
    assert [Backoff(0.2, 1.0).delay(n) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    assert Backoff(0.0, 30.0).delay(1) == 0.1  # never zero: never a hot loop
