"""Dead-letter headers: the original record stays intact, the failure is described beside it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from aiokafka.structs import ConsumerRecord

from dossierbus_devstack.records import consumer_record
from dossierbus_shared.dlq import DeadLetter, dead_letter_headers
from dossierbus_shared.dlq.letters import letter_for
from dossierbus_shared.kafka import MAX_MESSAGE_BYTES

ORIGINAL_HEADERS = [
    ("ce_specversion", b"1.0"),
    ("ce_id", b"5f0c2f8e-1d1b-4b53-a1a7-6a8a0f2d9e11"),
    ("ce_type", b"vn.gov.dossierbus.dossier.submitted.v1"),
    ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ("binary", b"\xff\x00\x01"),
]


def record(
    headers: list[tuple[str, bytes]] | None = None, value: bytes = b'{"dossier_id": 1}'
) -> ConsumerRecord[bytes, bytes]:
    return consumer_record(
        "dossier.submitted",
        value,
        key=b"dossier-id",
        partition=3,
        offset=41,
        headers=ORIGINAL_HEADERS if headers is None else headers,
    )


def letter_headers(**overrides: object) -> list[tuple[str, bytes]]:
    arguments: dict[str, object] = {
        "reason": "invalid data for vn.gov.dossierbus.dossier.submitted.v1: applicant: Field required",
        "error_type": "MalformedEvent",
        "consumer_group": "registry",
        "attempts": 1,
    }
    arguments.update(overrides)
    source = arguments.pop("record", record())
    return dead_letter_headers(source, **arguments)  # type: ignore[arg-type]


def dead_letter(headers: list[tuple[str, bytes]], topic: str = "dossier.submitted.dlq") -> DeadLetter:
    return DeadLetter(topic=topic, partition=0, offset=7, key=b"dossier-id", value=b"{}", headers=headers)


def test_original_headers_come_first_and_unchanged() -> None:
    headers = letter_headers()

    assert headers[: len(ORIGINAL_HEADERS)] == ORIGINAL_HEADERS


def test_failure_headers_describe_where_and_why() -> None:
    added = dict(letter_headers(attempts=5)[len(ORIGINAL_HEADERS) :])

    assert (
        added["dlq_reason"]
        == b"invalid data for vn.gov.dossierbus.dossier.submitted.v1: applicant: Field required"
    )
    assert added["dlq_error_type"] == b"MalformedEvent"
    assert added["dlq_original_topic"] == b"dossier.submitted"
    assert added["dlq_original_partition"] == b"3"
    assert added["dlq_original_offset"] == b"41"
    assert added["dlq_consumer_group"] == b"registry"
    assert added["dlq_attempts"] == b"5"
    failed_at = datetime.fromisoformat(added["dlq_failed_at"].decode())
    assert abs(datetime.now(UTC) - failed_at) < timedelta(minutes=1)


def test_all_header_values_are_bytes() -> None:
    assert all(isinstance(name, str) and isinstance(value, bytes) for name, value in letter_headers())


def test_long_reason_is_truncated() -> None:
    added = dict(letter_headers(reason="x" * 10_000))

    assert added["dlq_reason"] == b"x" * 4000


def test_non_ascii_reason_is_utf8() -> None:
    added = dict(letter_headers(reason="họ tên không khớp"))

    assert added["dlq_reason"].decode("utf-8") == "họ tên không khớp"


def test_dead_lettering_again_replaces_the_previous_failure() -> None:
    first = letter_headers(reason="first failure", attempts=1)
    again = letter_headers(record=record(first), reason="second failure", attempts=3)

    names = [name for name, _ in again]
    assert names.count("dlq_reason") == 1
    assert dict(again)["dlq_reason"] == b"second failure"
    assert dict(again)["dlq_attempts"] == b"3"
    assert again[: len(ORIGINAL_HEADERS)] == ORIGINAL_HEADERS


def test_dead_letter_reads_the_failure_back() -> None:
    letter = dead_letter(letter_headers(attempts=2))

    failure = letter.failure
    assert failure["reason"].startswith("invalid data for")
    assert failure["original_topic"] == "dossier.submitted"
    assert failure["original_partition"] == "3"
    assert failure["original_offset"] == "41"
    assert failure["attempts"] == "2"
    assert failure["consumer_group"] == "registry"
    assert "ce_id" not in failure
    assert all(not name.startswith("dlq_") for name in failure)


def test_dead_letter_original_topic_and_headers() -> None:
    letter = dead_letter(letter_headers(), topic="whatever.dlq")

    assert letter.original_topic == "dossier.submitted"
    assert list(letter.original_headers()) == ORIGINAL_HEADERS
    assert letter.event_id == "5f0c2f8e-1d1b-4b53-a1a7-6a8a0f2d9e11"


def test_original_topic_falls_back_to_the_dlq_topic_name() -> None:
    letter = dead_letter([("ce_id", b"x")], topic="agency.justice-hanoi.reports.dlq")

    assert letter.original_topic == "agency.justice-hanoi.reports"
    assert letter.failure == {}


def test_event_id_is_none_without_ce_id() -> None:
    assert dead_letter([("dlq_reason", b"r")]).event_id is None


def letter(source: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    sent = letter_for(
        source, reason="too big", error_type="MalformedEvent", consumer_group="routing", attempts=1
    )
    assert sent.size <= MAX_MESSAGE_BYTES
    return DeadLetter("dossier.submitted.dlq", 0, 9, sent.key, sent.value, sent.headers)  # type: ignore[arg-type]


def test_a_record_that_fits_is_copied_whole() -> None:
    copied = letter(record())

    assert copied.value == b'{"dossier_id": 1}' and copied.key == b"dossier-id"
    assert not copied.by_reference


def test_a_record_too_large_to_copy_is_dead_lettered_by_reference() -> None:
    huge = b"x" * MAX_MESSAGE_BYTES

    referenced = letter(record(value=huge))

    assert referenced.value is None and referenced.by_reference
    failure = referenced.failure
    assert failure["value_size"] == str(MAX_MESSAGE_BYTES)
    assert failure["value_sha256"] == hashlib.sha256(huge).hexdigest()
    assert (failure["original_topic"], failure["original_partition"], failure["original_offset"]) == (
        "dossier.submitted",
        "3",
        "41",
    )
    assert list(referenced.original_headers()) == ORIGINAL_HEADERS  # they fit: kept
    assert referenced.key == b"dossier-id"


def test_headers_too_large_to_copy_are_left_out_and_said_so() -> None:
    referenced = letter(record(headers=[("padding", b"x" * MAX_MESSAGE_BYTES)]))

    assert referenced.by_reference
    assert list(referenced.original_headers()) == []
    assert referenced.failure["omitted"] == "headers"


def test_a_header_name_that_is_not_utf8_is_kept_by_its_bytes() -> None:
    hostile = b"x-\xff".decode("utf-8", "surrogateescape")

    added = letter_headers(record=record([("ce_id", b"1"), (hostile, b"\xfe")]))

    assert added[:2] == [("ce_id", b"1"), ("dlq_header_hex_782dff", b"\xfe")]
    for name, _ in added:
        name.encode("utf-8")  # every name can be sent
