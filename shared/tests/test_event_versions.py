"""Two versions of an event side by side, on a real example: the status report's note to the citizen
becomes bilingual (`notes`, by language) in a `.v2` that v1 readers could not read. Agencies move to v2 at
their own pace; the bus reads both, with one handler (upcasting v1) or one per version."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, cast

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import Field

from dossierbus_devstack.eventually import eventually
from dossierbus_shared import events
from dossierbus_shared.consumer import EventConsumer
from dossierbus_shared.contract.asyncapi import asyncapi_document
from dossierbus_shared.contract.compat import compare_catalogues
from dossierbus_shared.contract.schemas import event_schemas
from dossierbus_shared.envelope import Envelope, MalformedEvent
from dossierbus_shared.events import (
    TYPE_PREFIX,
    DossierAssigned,
    DossierStatus,
    DossierStatusReported,
    Event,
    ResultDocument,
)
from dossierbus_shared.service import Service
from dossierbus_shared.settings import ServiceSettings
from dossierbus_shared.unit_of_work import UnitOfWork
from dossierbus_shared.versions import UPCASTERS, Upcasters, version_of

MIGRATIONS = Path(__file__).parent / "migrations_fixture"


class DossierStatusReportedV2(Event):
    """An agency reports progress, with its note to the citizen in several languages."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.status-reported.v2"
    topic: ClassVar[str] = DossierStatusReported.topic

    agency_code: str = Field(pattern=events.AGENCY_CODE_PATTERN)
    step: str
    status: DossierStatus
    notes: dict[str, str] = Field(default_factory=dict, description="Note to the citizen, by language")
    result_documents: list[ResultDocument] = Field(default_factory=list)
    reported_at: datetime


def bilingual_upcasters() -> Upcasters:
    upcasters = Upcasters()

    @upcasters.register(DossierStatusReported, DossierStatusReportedV2)
    def to_v2(old: DossierStatusReported) -> DossierStatusReportedV2:
        return DossierStatusReportedV2(
            **old.model_dump(exclude={"note"}), notes={"vi": old.note} if old.note else {}
        )

    return upcasters


def report_v1(agency_code: str, note: str | None = "Đã tiếp nhận hồ sơ") -> DossierStatusReported:
    return DossierStatusReported(
        dossier_id=uuid.uuid4(),
        dossier_code="000.00.01.H26-261126-0001",
        agency_code=agency_code,
        step="issue",
        status=DossierStatus.PROCESSING,
        note=note,
        reported_at=datetime.now(UTC),
    )


def report_v2(agency_code: str) -> DossierStatusReportedV2:
    return DossierStatusReportedV2(
        dossier_id=uuid.uuid4(),
        dossier_code="000.00.01.H26-261126-0002",
        agency_code=agency_code,
        step="issue",
        status=DossierStatus.RESULT_READY,
        notes={"vi": "Đã có kết quả", "en": "The result is ready"},
        reported_at=datetime.now(UTC),
    )


@pytest.fixture
def v2_in_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(events.CATALOGUE, DossierStatusReportedV2.type, DossierStatusReportedV2)


def consumer_of(*handled: type[Event]) -> EventConsumer:
    """A consumer only to ask how it dispatches; it never touches a database or a broker."""
    consumer = EventConsumer(cast(Any, None), cast(Any, None), upcasters=bilingual_upcasters())
    for event_type in handled:

        @consumer.on(event_type)
        async def handle(work: UnitOfWork, envelope: Envelope[Any]) -> None:
            del work, envelope

    return consumer


def test_the_production_catalogue_has_no_upcasters_yet() -> None:
    assert UPCASTERS.upcast(report_v1("justice-hanoi"), {DossierStatusReportedV2}) is None


def test_a_reader_of_v2_only_gets_v1_reports_upcast_with_the_same_id() -> None:
    consumer = consumer_of(DossierStatusReportedV2)
    received = Envelope(report_v1("justice-hanoi"), source="urn:agency:justice-hanoi")
    handled = consumer.as_handled(received)
    assert isinstance(handled.data, DossierStatusReportedV2)
    assert handled.data.notes == {"vi": "Đã tiếp nhận hồ sơ"}
    assert (handled.id, handled.source, handled.time) == (received.id, received.source, received.time)
    assert handled.data.dossier_id == received.data.dossier_id


def test_an_upcast_event_keeps_the_record_as_received_for_signature_checks(v2_in_catalogue: None) -> None:
    record = Envelope(report_v1("justice-hanoi"), source="urn:agency:justice-hanoi").to_kafka()
    received = Envelope.from_kafka(record.value, record.headers)
    handled = consumer_of(DossierStatusReportedV2).as_handled(received)
    assert isinstance(handled.data, DossierStatusReportedV2)
    assert handled.received is not None and handled.received is received.received
    assert handled.received.value == record.value
    assert handled.received.attributes["ce_type"] == DossierStatusReported.type


def test_a_v1_without_a_note_upcasts_to_no_notes() -> None:
    upcast = bilingual_upcasters().upcast(report_v1("justice-hanoi", note=None), {DossierStatusReportedV2})
    assert isinstance(upcast, DossierStatusReportedV2) and upcast.notes == {}


def test_a_reader_of_both_versions_gets_each_as_sent() -> None:
    consumer = consumer_of(DossierStatusReported, DossierStatusReportedV2)
    for event in (report_v1("justice-hanoi"), report_v2("justice-hanoi")):
        received = Envelope(event, source="urn:agency:justice-hanoi")
        assert consumer.as_handled(received) is received


def test_a_reader_of_v1_only_does_not_handle_v2() -> None:
    consumer = consumer_of(DossierStatusReported)
    received = Envelope(report_v2("justice-hanoi"), source="urn:agency:justice-hanoi")
    assert consumer.as_handled(received) is received  # and so it is dead-lettered as UnhandledEventType
    assert type(received.data) not in consumer.handlers


def test_an_upcaster_that_cannot_convert_an_event_makes_it_malformed() -> None:
    upcasters = Upcasters()

    @upcasters.register(DossierStatusReported, DossierStatusReportedV2)
    def strict(old: DossierStatusReported) -> DossierStatusReportedV2:
        return DossierStatusReportedV2.model_validate(old.model_dump() | {"notes": {"vi": None}})

    consumer = EventConsumer(cast(Any, None), cast(Any, None), upcasters=upcasters)
    consumer.on(DossierStatusReportedV2)(
        consumer_of(DossierStatusReportedV2).handlers[DossierStatusReportedV2]
    )
    with pytest.raises(MalformedEvent, match=r"cannot upcast .*status-reported\.v1: .*notes\.vi"):
        consumer.as_handled(Envelope(report_v1("justice-hanoi"), source="urn:agency:justice-hanoi"))


def test_upcasters_go_from_one_version_to_the_next_of_the_same_event_on_the_same_topic() -> None:
    upcasters = Upcasters()
    with pytest.raises(ValueError, match="from one version to the next"):
        upcasters.register(DossierAssigned, DossierStatusReportedV2)
    with pytest.raises(ValueError, match="from one version to the next"):
        upcasters.register(DossierStatusReportedV2, DossierStatusReported)
    assert version_of(DossierStatusReportedV2) == (TYPE_PREFIX + "dossier.status-reported", 2)


def test_both_versions_parse_from_the_wire_side_by_side(v2_in_catalogue: None) -> None:
    for event in (report_v1("justice-hanoi"), report_v2("justice-hanoi")):
        record = Envelope(event, source="urn:agency:justice-hanoi").to_kafka()
        assert record.topic == "agency.justice-hanoi.reports"
        assert Envelope.from_kafka(record.value, record.headers).data == event


def test_the_contract_lists_both_versions_on_the_topic_and_v2_is_a_compatible_addition() -> None:
    catalogue = dict(events.CATALOGUE) | {DossierStatusReportedV2.type: DossierStatusReportedV2}
    document = asyncapi_document(catalogue)
    assert set(document["channels"]["agencyReports"]["messages"]) == {
        "dossierStatusReportedV1",
        "dossierStatusReportedV2",
        "dossierExtensionRequestedV1",
    }
    assert compare_catalogues(event_schemas(), event_schemas(catalogue)) == []
    # The same change made inside v1 is refused: it is what a new version is for.
    in_place = event_schemas() | {
        "dossier.status-reported.v1": event_schemas(catalogue)["dossier.status-reported.v2"]
    }
    refused = [str(problem) for problem in compare_catalogues(event_schemas(), in_place)]
    assert "dossier.status-reported.v1: note: the field was removed" in refused


@pytest.fixture
async def reports_reader(
    kafka_bootstrap: str, database_url: str, v2_in_catalogue: None
) -> AsyncIterator[tuple[Service, str]]:
    """A bare service reading one agency's reports, with the bilingual upcaster."""
    agency_code = f"versions-{uuid.uuid4().hex[:8]}"
    topic = f"agency.{agency_code}.reports"
    settings = ServiceSettings(
        service_name=f"t{uuid.uuid4().hex[:10]}",
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
    )
    service = Service(settings, migrations=MIGRATIONS, consumes=[topic], produces=[])
    service.consumer.upcasters = bilingual_upcasters()
    yield service, agency_code
    await service.stop()


async def test_a_service_reading_v2_applies_v1_and_v2_reports_from_the_broker(
    reports_reader: tuple[Service, str],
) -> None:
    service, agency_code = reports_reader
    applied: list[tuple[str, dict[str, str]]] = []
    authenticated: list[str] = []

    async def authenticate(envelope: Envelope[Any]) -> None:
        # What a signature check sees: the record as it arrived, whichever version the handler takes.
        assert envelope.received is not None
        authenticated.append(envelope.received.attributes["ce_type"])

    @service.consumer.on(DossierStatusReportedV2, authenticate=authenticate)
    async def apply(work: UnitOfWork, envelope: Envelope[DossierStatusReportedV2]) -> None:
        applied.append((envelope.data.dossier_code, envelope.data.notes))

    await service.start()
    sent = [report_v1(agency_code), report_v2(agency_code)]
    producer = AIOKafkaProducer(bootstrap_servers=service.settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in sent:
            record = Envelope(event, source=f"urn:agency:{agency_code}").to_kafka()
            await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()
    await eventually(lambda: len(applied) >= 2)
    assert sorted(applied) == [
        ("000.00.01.H26-261126-0001", {"vi": "Đã tiếp nhận hồ sơ"}),
        ("000.00.01.H26-261126-0002", {"vi": "Đã có kết quả", "en": "The result is ready"}),
    ]
    assert sorted(authenticated) == [DossierStatusReported.type, DossierStatusReportedV2.type]
