"""CloudEvents 1.0 Kafka binary mode: what goes on the wire and how bad records are refused."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest

from dossierbus_shared.envelope import CONTENT_TYPE, SPECVERSION, Envelope, MalformedEvent, header_map
from dossierbus_shared.events import (
    Applicant,
    Channel,
    DossierAssigned,
    DossierStatus,
    DossierStatusReported,
    DossierSubmitted,
)

DOSSIER_ID = UUID("0b6c1f0e-6a39-4c84-9d0e-3f1d2a4b5c6d")
DOSSIER_CODE = "000.00.01.H26-260302-0001"
SUBMITTED_TYPE = "vn.gov.dossierbus.dossier.submitted.v1"


def applicant() -> Applicant:
    return Applicant(
        personal_id="001085123456",
        full_name="Nguyễn Văn An",
        date_of_birth=date(1985, 4, 12),
        email="an@example.vn",
    )


def submitted() -> DossierSubmitted:
    return DossierSubmitted(
        dossier_id=DOSSIER_ID,
        dossier_code=DOSSIER_CODE,
        procedure_code="1.001193",
        receiving_unit="000.00.01.H26",
        channel=Channel.ONLINE,
        applicant=applicant(),
        form={"child_full_name": "Nguyễn Thị Bình", "child_date_of_birth": "2026-02-27"},
        submitted_at=datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
        due_date=date(2026, 3, 3),
    )


def envelope() -> Envelope[DossierSubmitted]:
    return Envelope(
        data=submitted(),
        source="/dossierbus/intake",
        id=UUID("5f0c2f8e-1d1b-4b53-a1a7-6a8a0f2d9e11"),
        time=datetime(2026, 3, 2, 3, 0, 1, 123456, tzinfo=UTC),
    )


def wire(**changes: bytes | None) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A valid record's value and headers, with headers replaced (or removed when None)."""
    record = envelope().to_kafka()
    headers: list[tuple[str, bytes]] = []
    for name, value in record.headers:
        replacement = changes.get(name, value)
        if replacement is not None:
            headers.append((name, replacement))
    return record.value, headers


# --- round trip and the wire format -------------------------------------------------------------------


def test_round_trip_gives_back_the_same_envelope() -> None:
    original = envelope()
    record = original.to_kafka()

    parsed = Envelope.from_kafka(record.value, record.headers)

    assert parsed == original
    assert isinstance(parsed.data, DossierSubmitted)
    assert parsed.data.applicant.date_of_birth == date(1985, 4, 12)
    assert parsed.time == original.time


def test_record_carries_every_cloudevents_header() -> None:
    record = envelope().to_kafka()
    headers = dict(record.headers)

    assert headers == {
        "ce_specversion": b"1.0",
        "ce_id": b"5f0c2f8e-1d1b-4b53-a1a7-6a8a0f2d9e11",
        "ce_source": b"/dossierbus/intake",
        "ce_type": SUBMITTED_TYPE.encode(),
        "ce_time": b"2026-03-02T03:00:01.123456+00:00",
        "ce_subject": DOSSIER_CODE.encode(),
        "ce_dataschema": b"https://schemas.dossierbus.gov.vn/events/dossier.submitted.v1.json",
        "content-type": b"application/json",
    }
    assert len(record.headers) == len(headers), "no header may be repeated"
    assert all(isinstance(value, bytes) for _, value in record.headers)


def test_key_is_the_dossier_id_and_topic_is_the_events_topic() -> None:
    record = envelope().to_kafka()

    assert record.key == str(DOSSIER_ID).encode()
    assert record.topic == "dossier.submitted"


def test_per_agency_event_goes_to_the_agency_topic() -> None:
    assigned = DossierAssigned(
        dossier_id=DOSSIER_ID,
        dossier_code=DOSSIER_CODE,
        agency_code="justice-hanoi",
        procedure_code="1.001193",
        step="birth-registration",
        applicant=applicant(),
        form={},
        due_date=date(2026, 3, 3),
        assigned_at=datetime(2026, 3, 2, 4, 0, tzinfo=UTC),
    )
    record = Envelope(data=assigned, source="/dossierbus/routing").to_kafka()

    assert record.topic == "agency.justice-hanoi.inbox"
    assert dict(record.headers)["ce_type"] == b"vn.gov.dossierbus.dossier.assigned.v1"
    assert Envelope.from_kafka(record.value, record.headers).data == assigned


def test_value_is_plain_json_with_the_field_names_of_the_event() -> None:
    payload = json.loads(envelope().to_kafka().value)

    assert set(payload) == {
        "dossier_id",
        "dossier_code",
        "procedure_code",
        "receiving_unit",
        "channel",
        "applicant",
        "form",
        "prefilled",
        "submitted_at",
        "due_date",
        "deadline_provisional",
        "tracking_secret",
    }
    assert payload["dossier_id"] == str(DOSSIER_ID)
    assert payload["dossier_code"] == DOSSIER_CODE
    assert payload["channel"] == "online"
    assert payload["due_date"] == "2026-03-03"
    assert datetime.fromisoformat(payload["submitted_at"].replace("Z", "+00:00")) == datetime(
        2026, 3, 2, 3, 0, tzinfo=UTC
    )
    assert payload["applicant"]["personal_id"] == "001085123456"
    assert payload["applicant"]["full_name"] == "Nguyễn Văn An"
    assert payload["applicant"]["date_of_birth"] == "1985-04-12"
    assert payload["form"]["child_full_name"] == "Nguyễn Thị Bình"


def test_value_is_utf8_json_object() -> None:
    value = envelope().to_kafka().value

    assert isinstance(json.loads(value.decode("utf-8")), dict)


def test_record_written_by_a_non_python_client_is_accepted() -> None:
    """Headers and value built from plain strings and a JSON document, as any Kafka client would."""
    event_id = uuid4()
    payload = {
        "dossier_id": str(DOSSIER_ID),
        "dossier_code": DOSSIER_CODE,
        "agency_code": "justice-hanoi",
        "step": "birth-registration",
        "status": "result_ready",
        "reported_at": "2026-03-03T02:15:00Z",
        "result_documents": [{"name": "Giấy khai sinh", "url": "https://example.vn/gks.pdf"}],
        "some_future_field": "ignored",
    }
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(event_id).encode()),
        ("ce_source", b"urn:agency:justice-hanoi"),
        ("ce_type", b"vn.gov.dossierbus.dossier.status-reported.v1"),
        ("ce_time", b"2026-03-03T02:15:00Z"),
        ("ce_subject", DOSSIER_CODE.encode()),
        ("content-type", b"application/json"),
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ]

    parsed = Envelope.from_kafka(json.dumps(payload, ensure_ascii=False).encode(), headers)

    assert isinstance(parsed.data, DossierStatusReported)
    assert parsed.id == event_id
    assert parsed.source == "urn:agency:justice-hanoi"
    assert parsed.time == datetime(2026, 3, 3, 2, 15, tzinfo=UTC)
    assert parsed.data.status is DossierStatus.RESULT_READY
    assert parsed.data.result_documents[0].name == "Giấy khai sinh"


def test_time_with_an_offset_keeps_the_instant() -> None:
    value, headers = wire(ce_time=b"2026-03-02T10:00:00+07:00")

    parsed = Envelope.from_kafka(value, headers)

    assert parsed.time == datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert parsed.time.utcoffset() == timedelta(hours=7)


def test_missing_time_defaults_to_now() -> None:
    value, headers = wire(ce_time=None)
    before = datetime.now(UTC)

    parsed = Envelope.from_kafka(value, headers)

    assert before <= parsed.time <= datetime.now(UTC)


def test_envelope_attributes_follow_the_data() -> None:
    env = envelope()

    assert env.type == SUBMITTED_TYPE
    assert env.subject == DOSSIER_CODE
    assert env.key == str(DOSSIER_ID)


def test_default_id_and_time_are_fresh() -> None:
    first = Envelope(data=submitted(), source="/x")
    second = Envelope(data=submitted(), source="/x")

    assert first.id != second.id
    assert first.time.tzinfo is not None


def test_constants_are_the_contract() -> None:
    assert SPECVERSION == "1.0"
    assert CONTENT_TYPE == "application/json"


# --- malformed records --------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["ce_specversion", "ce_id", "ce_source", "ce_type"])
def test_missing_required_header_is_named(header: str) -> None:
    value, headers = wire(**{header: None})

    with pytest.raises(MalformedEvent) as caught:
        Envelope.from_kafka(value, headers)

    assert caught.value.reason == f"missing header {header}"
    assert str(caught.value) == caught.value.reason


def test_undecodable_type_header_is_named() -> None:
    value, headers = wire(ce_type=b"\xff\xfe")

    with pytest.raises(MalformedEvent, match=r"^header ce_type is not UTF-8$"):
        Envelope.from_kafka(value, headers)


def test_unknown_type_is_named() -> None:
    value, headers = wire(ce_type=b"vn.gov.dossierbus.dossier.exploded.v1")

    with pytest.raises(MalformedEvent) as caught:
        Envelope.from_kafka(value, headers)

    assert "unknown event type" in caught.value.reason
    assert "vn.gov.dossierbus.dossier.exploded.v1" in caught.value.reason


def test_future_major_version_of_a_known_event_is_unknown() -> None:
    value, headers = wire(ce_type=b"vn.gov.dossierbus.dossier.submitted.v2")

    with pytest.raises(MalformedEvent, match="unknown event type"):
        Envelope.from_kafka(value, headers)


@pytest.mark.parametrize(
    "value", [b"{not json", b"", None, b"\xff\xfe{}"], ids=["broken", "empty", "none", "not-utf8"]
)
def test_bad_json_is_refused(value: bytes | None) -> None:
    _, headers = wire()

    with pytest.raises(MalformedEvent) as caught:
        Envelope.from_kafka(value, headers)

    assert "not valid JSON" in caught.value.reason


@pytest.mark.parametrize("field", ["dossier_id", "dossier_code", "procedure_code", "applicant", "due_date"])
def test_missing_required_data_field_is_named(field: str) -> None:
    value, headers = wire()
    payload = json.loads(value)
    del payload[field]

    with pytest.raises(MalformedEvent) as caught:
        Envelope.from_kafka(json.dumps(payload).encode(), headers)

    assert SUBMITTED_TYPE in caught.value.reason
    assert f"{field}: Field required" in caught.value.reason


def test_missing_nested_data_field_is_named_by_its_path() -> None:
    value, headers = wire()
    payload = json.loads(value)
    del payload["applicant"]["personal_id"]

    with pytest.raises(MalformedEvent) as caught:
        Envelope.from_kafka(json.dumps(payload).encode(), headers)

    assert "applicant.personal_id" in caught.value.reason


def test_invalid_data_value_is_named() -> None:
    value, headers = wire()
    payload = json.loads(value)
    payload["channel"] = "carrier-pigeon"

    with pytest.raises(MalformedEvent) as caught:
        Envelope.from_kafka(json.dumps(payload).encode(), headers)

    assert "channel" in caught.value.reason


def test_json_that_is_not_an_object_is_refused() -> None:
    _, headers = wire()

    with pytest.raises(MalformedEvent, match="invalid data"):
        Envelope.from_kafka(b"[1, 2, 3]", headers)


@pytest.mark.parametrize("version", [b"0.3", b"1.1", b"", b"1"])
def test_wrong_specversion_is_refused(version: bytes) -> None:
    value, headers = wire(ce_specversion=version)

    with pytest.raises(MalformedEvent) as caught:
        Envelope.from_kafka(value, headers)

    assert "ce_specversion" in caught.value.reason
    assert repr(version.decode()) in caught.value.reason


@pytest.mark.parametrize("event_id", [b"not-a-uuid", b"12345", b""])
def test_non_uuid_id_is_refused(event_id: bytes) -> None:
    value, headers = wire(ce_id=event_id)

    with pytest.raises(MalformedEvent) as caught:
        Envelope.from_kafka(value, headers)

    assert "ce_id" in caught.value.reason
    assert "not a UUID" in caught.value.reason
    assert repr(event_id.decode()) in caught.value.reason


def test_bad_time_is_refused() -> None:
    value, headers = wire(ce_time=b"yesterday afternoon")

    with pytest.raises(MalformedEvent) as caught:
        Envelope.from_kafka(value, headers)

    assert "ce_time" in caught.value.reason
    assert "yesterday afternoon" in caught.value.reason


def test_header_map_keeps_the_first_of_repeated_headers_and_drops_undecodable_ones() -> None:
    headers = [("ce_id", b"first"), ("ce_id", b"second"), ("bad", b"\xff"), ("ok", b"v\xc3\xa2")]

    assert header_map(headers) == {"ce_id": "first", "ok": "vâ"}


def test_time_round_trips_in_a_non_utc_zone() -> None:
    local = datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=7)))
    original = Envelope(data=submitted(), source="/x", time=local)
    record = original.to_kafka()

    assert Envelope.from_kafka(record.value, record.headers).time == local


@pytest.mark.parametrize("ce_time", [b"2026-03-02T10:00:00", b"2026-03-02", b"2026-03-02+07:00"])
def test_time_without_an_offset_or_a_time_is_refused(ce_time: bytes) -> None:
    value, headers = wire(ce_time=ce_time)

    with pytest.raises(MalformedEvent) as caught:
        Envelope.from_kafka(value, headers)

    assert "ce_time" in caught.value.reason
    assert repr(ce_time.decode()) in caught.value.reason


# --- hostile records: any bytes end as MalformedEvent ---------------------------------------------------


def test_a_header_name_that_is_not_utf8_is_named() -> None:
    value, headers = wire()
    # How aiokafka hands over such a name once read leniently (dossierbus_shared.record_batches).
    hostile = b"ce_\xff\xfe".decode("utf-8", "surrogateescape")

    with pytest.raises(MalformedEvent) as caught:
        Envelope.from_kafka(value, [*headers, (hostile, b"x")])

    assert caught.value.reason == "header name b'ce_\\xff\\xfe' is not UTF-8"


def test_header_map_leaves_out_names_that_are_not_utf8() -> None:
    hostile = b"\xff".decode("utf-8", "surrogateescape")

    assert header_map([(hostile, b"1"), ("ce_id", b"2")]) == {"ce_id": "2"}


def test_a_required_header_without_value_is_named() -> None:
    value, headers = wire()
    without = [(name, None if name == "ce_id" else data) for name, data in headers]

    with pytest.raises(MalformedEvent, match=r"^header ce_id has no value$"):
        Envelope.from_kafka(value, without)


@pytest.mark.parametrize("nesting", [b"[" * 100_000, b"{" * 100_000, b'{"a":' * 100_000])
def test_data_nested_too_deep_is_malformed_not_a_recursion_error(nesting: bytes) -> None:
    _, headers = wire()

    with pytest.raises(MalformedEvent, match="data is not valid JSON"):
        Envelope.from_kafka(nesting, headers)


def test_deep_but_parseable_data_is_malformed_not_a_recursion_error() -> None:
    # Nested just shallow enough for the JSON parser: validation must not blow up either.
    _, headers = wire()
    value = b'{"form": ' + b"[" * 900 + b"]" * 900 + b"}"

    with pytest.raises(MalformedEvent):
        Envelope.from_kafka(value, headers)
