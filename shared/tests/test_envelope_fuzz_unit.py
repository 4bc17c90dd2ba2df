"""Whatever bytes a record holds, the envelope parser answers with an Envelope or a MalformedEvent, and the
dead letter of such a record can be sent: no other exception can stop a consumer."""

from __future__ import annotations

import json
from uuid import UUID

from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dossierbus_devstack.records import consumer_record
from dossierbus_shared.dlq.letters import letter_for
from dossierbus_shared.envelope import Envelope, MalformedEvent, header_map
from dossierbus_shared.events import CATALOGUE

# Names the parser looks at, so that fuzzing gets past the first checks, and any bytes as names, as
# aiokafka hands them over when they are not UTF-8 (escaped, see dossierbus_shared.record_batches).
KNOWN_NAMES = ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "traceparent"]
names = st.sampled_from(KNOWN_NAMES) | st.binary(max_size=12).map(
    lambda raw: raw.decode("utf-8", "surrogateescape")
)
plausible_values = st.sampled_from(
    [
        b"1.0",
        str(UUID(int=7)).encode(),
        b"2026-03-02T03:00:01+07:00",
        b"urn:test",
        *(event_type.encode() for event_type in CATALOGUE),
    ]
)
header_values = st.none() | st.binary(max_size=40) | plausible_values
headers = st.lists(st.tuples(names, header_values), max_size=12)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)
nested = st.tuples(st.sampled_from([b"[", b"{", b'{"a":', b"[{}, "]), st.integers(1, 200_000)).map(
    lambda part: part[0] * part[1]
)
values = st.none() | st.binary() | nested | json_values.map(lambda value: json.dumps(value).encode())


def record(value: bytes | None, headers: list[tuple[str, bytes | None]]) -> ConsumerRecord[bytes, bytes]:
    return consumer_record("agency.fuzz.reports", value, key=b"\xff\x00", offset=1, headers=headers)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values, headers)
def test_any_record_parses_or_is_malformed(
    value: bytes | None, fuzzed: list[tuple[str, bytes | None]]
) -> None:
    try:
        parsed = Envelope.from_kafka(value, fuzzed)
    except MalformedEvent as error:
        assert error.reason
    else:
        assert parsed.received is not None
    header_map(fuzzed)


@settings(max_examples=200, deadline=None)
@given(values, headers, st.text(max_size=5000))
def test_any_record_can_be_dead_lettered(
    value: bytes | None, fuzzed: list[tuple[str, bytes | None]], reason: str
) -> None:
    letter = letter_for(
        record(value, fuzzed), reason=reason, error_type="MalformedEvent", consumer_group="g", attempts=1
    )
    for name, _ in letter.headers:
        name.encode("utf-8")  # a producer can send every header of the letter
    assert letter.size <= 1_048_576
