"""CloudEvents 1.0 in Kafka binary mode: value = JSON `data`, attributes in `ce_*` headers, key = dossier id.

Nothing here is Python-specific on the wire: any Kafka client in any language can read and write it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from pydantic import ValidationError

from dossierbus_shared.events import CATALOGUE, Event

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"

Headers = Sequence[tuple[str, bytes | None]]
"""Kafka headers as aiokafka gives them: a name that is not UTF-8 arrives with its bytes escaped
(dossierbus_shared.record_batches), a value may be any bytes or none."""

REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type")
E = TypeVar("E", bound=Event)


class MalformedEvent(Exception):
    """A record that can never be processed as it is: wrong headers, bad JSON, unknown type, bad data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Received:
    """A consumed record exactly as it arrived: what a signature over it must be checked against."""

    value: bytes
    attributes: dict[str, str]
    topic: str | None = None
    """The topic it was consumed from: a report is only its agency's on that agency's reports topic."""


@dataclass(frozen=True)
class Envelope(Generic[E]):
    data: E
    source: str
    id: UUID = field(default_factory=uuid4)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    received: Received | None = field(default=None, compare=False, repr=False)
    """Set on consumed envelopes only."""

    @property
    def type(self) -> str:
        return self.data.type

    @property
    def subject(self) -> str:
        return self.data.dossier_code

    @property
    def key(self) -> str:
        return str(self.data.dossier_id)

    def ce_headers(self) -> list[tuple[str, bytes]]:
        """The CloudEvents attributes as Kafka headers (trace context is added when published)."""
        attributes = {
            "ce_specversion": SPECVERSION,
            "ce_id": str(self.id),
            "ce_source": self.source,
            "ce_type": self.type,
            "ce_time": self.time.isoformat(),
            "ce_subject": self.subject,
            "ce_dataschema": self.data.schema_url(),
            "content-type": CONTENT_TYPE,
        }
        return [(name, value.encode()) for name, value in attributes.items()]

    def to_kafka(self) -> KafkaRecord:
        return KafkaRecord(
            topic=self.data.topic_name(),
            key=self.key.encode(),
            value=self.data.model_dump_json().encode(),
            headers=self.ce_headers(),
        )

    @classmethod
    def from_kafka(cls, value: bytes | None, headers: Headers, *, topic: str | None = None) -> Envelope[Any]:
        """Parse and validate a record; raise MalformedEvent naming exactly what is wrong, whatever the
        bytes (no other exception escapes: a record that cannot be read is a record to dead-letter).
        `topic`: where it was consumed from, kept in `received`."""
        try:
            return cls._parse(value, headers, topic)
        except MalformedEvent:
            raise
        except Exception as error:  # e.g. RecursionError from JSON nested too deep
            raise MalformedEvent(f"unreadable record: {type(error).__name__}: {error}"[:500]) from None

    @classmethod
    def _parse(cls, value: bytes | None, headers: Headers, topic: str | None) -> Envelope[Any]:
        for name, _ in headers:
            if not _is_utf8(name):
                raw = name.encode("utf-8", "surrogateescape")
                raise MalformedEvent(f"header name {raw[:100]!r} is not UTF-8")
        attributes = header_map(headers)
        for required in REQUIRED_HEADERS:
            if required not in attributes:
                raise MalformedEvent(_why_missing(required, headers))
        if attributes["ce_specversion"] != SPECVERSION:
            raise MalformedEvent(f"unsupported ce_specversion {attributes['ce_specversion'][:100]!r}")
        event_type = CATALOGUE.get(attributes["ce_type"])
        if event_type is None:
            raise MalformedEvent(f"unknown event type {attributes['ce_type'][:200]!r}")
        try:
            event_id = UUID(attributes["ce_id"])
        except ValueError:
            raise MalformedEvent(f"ce_id {attributes['ce_id'][:100]!r} is not a UUID") from None
        time = _rfc3339(attributes["ce_time"]) if "ce_time" in attributes else None
        try:
            payload = json.loads(value or b"")
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise MalformedEvent(f"data is not valid JSON: {error}") from None
        except RecursionError:
            raise MalformedEvent("data is not valid JSON: nested too deep") from None
        try:
            data: Any = event_type.model_validate(payload)
        except ValidationError as error:
            raise MalformedEvent(f"invalid data for {event_type.type}: {describe(error)}") from None
        return cls(
            data=data,
            source=attributes["ce_source"],
            id=event_id,
            time=time or datetime.now(UTC),
            received=Received(value or b"", attributes, topic),
        )


def _why_missing(name: str, headers: Headers) -> str:
    values = [value for header, value in headers if header == name]
    if not values:
        return f"missing header {name}"
    if values[0] is None:
        return f"header {name} has no value"
    return f"header {name} is not UTF-8"


def _is_utf8(name: str) -> bool:
    if name.isascii():  # every name the bus writes: no encoding needed to know
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # escaped bytes (surrogates) of a name that was not UTF-8
        return False
    return True


def _rfc3339(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in value.upper():
        raise MalformedEvent(f"ce_time {value[:100]!r} is not an RFC 3339 timestamp with a UTC offset")
    return parsed


def header_map(headers: Headers) -> dict[str, str]:
    """Headers as text; a repeated header keeps its first value, one whose name or value is not UTF-8 is
    dropped."""
    result: dict[str, str] = {}
    for name, value in headers:
        if name in result or value is None or not _is_utf8(name):
            continue
        try:
            result[name] = value.decode()
        except UnicodeDecodeError:
            continue
    return result


def describe(error: ValidationError) -> str:
    """A one-line, field-naming summary of a pydantic validation error."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or '(root)'}: {item['msg']}" for item in error.errors()
    )
