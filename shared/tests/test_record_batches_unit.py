"""Reading fetched record batches: a header name that is not UTF-8 is kept escaped instead of failing the
whole fetch; everything else reads exactly as aiokafka reads it."""

from __future__ import annotations

import pytest
from aiokafka.consumer import fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.record.util import calc_crc32c

from dossierbus_shared import record_batches
from dossierbus_shared.record_batches import UNREADABLE_BATCH, LenientMemoryRecords, unreadable_batch


class RawName(str):
    """A header name written as these bytes: aiokafka's pure-Python builder writes what encode() returns."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawName:
        name = super().__new__(cls, raw.decode("utf-8", "surrogateescape"))
        name.raw = raw
        return name

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


Headers = list[tuple[str, bytes | None]]


def batch(*records: tuple[bytes | None, Headers], base_offset: int = 0) -> bytes:
    builder = _DefaultRecordBatchBuilderPy(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for offset, (value, headers) in enumerate(records):
        builder.append(offset, timestamp=1_700_000_000_000, key=b"k", value=value, headers=headers)
    data = bytearray(builder.build())
    data[:8] = base_offset.to_bytes(8, "big", signed=True)
    return bytes(data)


def read(data: bytes, reader: type = LenientMemoryRecords) -> list[tuple[int, bytes | None, Headers]]:
    records = reader(data)
    found = []
    while records.has_next():
        next_batch = records.next_batch()
        if not next_batch.validate_crc():
            raise CorruptRecordException("CRC")
        found += [(record.offset, record.value, list(record.headers)) for record in next_batch]
    return found


HOSTILE = (b"bad", [("ce_id", b"1"), (RawName(b"\xff\xfe"), b"x")])
GENUINE = (b"good", [("ce_id", b"2")])


def test_aiokafka_alone_cannot_read_a_batch_with_a_header_name_that_is_not_utf8() -> None:
    with pytest.raises((CorruptRecordException, UnicodeDecodeError)):
        read(batch(GENUINE, HOSTILE, GENUINE), MemoryRecords)


def test_the_name_is_kept_escaped_and_every_record_is_read_once_in_order() -> None:
    data = batch(GENUINE, HOSTILE, GENUINE, base_offset=40) + batch(GENUINE, base_offset=43)

    found = read(data)

    assert [(offset, value) for offset, value, _ in found] == [
        (40, b"good"),
        (41, b"bad"),
        (42, b"good"),
        (43, b"good"),
    ]
    hostile_headers = found[1][2]
    assert hostile_headers[0] == ("ce_id", b"1")
    name, value = hostile_headers[1]
    assert (name.encode("utf-8", "surrogateescape"), value) == (b"\xff\xfe", b"x")


def test_ordinary_batches_read_as_aiokafka_reads_them() -> None:
    data = batch(GENUINE, (None, []), (b"", [("h", None)]), base_offset=7)

    assert read(data) == read(data, MemoryRecords)


def test_a_fetch_that_ends_mid_batch_stops_before_it() -> None:
    whole = batch(GENUINE, base_offset=1)

    assert [offset for offset, _, _ in read(whole + whole[:20])] == [1]


def test_a_batch_no_reader_can_parse_becomes_one_stand_in_record() -> None:
    data = bytearray(batch(GENUINE, GENUINE, base_offset=10))
    name_length = data.rindex(b"ce_id") - 1
    data[name_length] = 0x7E  # the second record's header name runs past its end
    data[17:21] = calc_crc32c(bytes(data[21:])).to_bytes(4, "big")  # with a valid CRC all the same
    with pytest.raises(CorruptRecordException):
        read(bytes(data), MemoryRecords)

    found = read(bytes(data) + batch(GENUINE, base_offset=12))  # and the batch after it

    assert [offset for offset, _, _ in found] == [10, 11, 12]
    _, value, headers = found[1]
    assert value == bytes(data)  # the batch's raw bytes, for whoever looks into it
    reason = unreadable_batch(None, headers)
    assert reason is not None and reason.startswith("unreadable record batch: CorruptRecordException")


def test_a_batch_whose_crc_does_not_match_becomes_one_stand_in_record() -> None:
    data = bytearray(batch(GENUINE, GENUINE, base_offset=5))
    data[-1] ^= 0x01

    [(offset, value, headers)] = read(bytes(data))

    assert (offset, value) == (5, bytes(data))
    assert unreadable_batch(None, headers) == "the record batch's CRC does not match its bytes"


def test_a_batch_too_short_for_its_header_becomes_one_stand_in_record() -> None:
    whole = batch(GENUINE, base_offset=3)
    short = (3).to_bytes(8, "big") + (20).to_bytes(4, "big") + whole[12:32]

    found = read(short + batch(GENUINE, base_offset=4))

    assert [offset for offset, _, _ in found] == [3, 4]
    _, value, headers = found[0]
    assert value == short
    assert unreadable_batch(None, headers) == "record batch shorter than its header"


def test_only_the_stand_in_is_taken_for_one() -> None:
    assert unreadable_batch(b"key", [(UNREADABLE_BATCH, b"x")]) is None
    assert unreadable_batch(None, [(UNREADABLE_BATCH, b"x"), ("ce_id", b"1")]) is None
    assert unreadable_batch(None, [("ce_id", b"1")]) is None


def test_install_makes_the_fetcher_read_leniently() -> None:
    record_batches.install()
    record_batches.install()

    assert fetcher.MemoryRecords is LenientMemoryRecords
