"""Reading fetched record batches so that no record's header names can fail the fetch.

Kafka header names are meant to be UTF-8, but a broker stores whatever a producer sends. aiokafka decodes
them strictly while it unpacks a fetch (its compiled and its pure-Python reader alike), so one record
with a header name that is not UTF-8 makes every fetch of its partition raise: the consumer can never get
past it, nor hand its neighbours on. Here a batch is read by aiokafka's own fast reader and, only when
that fails, again by a lenient reader that keeps such a name with its bytes escaped (`surrogateescape`:
`name.encode("utf-8", "surrogateescape")` gives the bytes back). The envelope parser then refuses the
record, and it is dead-lettered like any other malformed record.

A batch that no reader can parse (a CRC that does not match, record lengths that do not add up, data
that does not decompress) would also fail every fetch of its partition. It is handed on instead as one
stand-in record at the offset of its first unread record: no key, the batch's raw bytes as value, and
the single header UNREADABLE_BATCH naming what is wrong. The consumer dead-letters it, and the partition
goes on after the batch.

`install()` makes aiokafka's fetcher read through this module; it is the one place that reaches into
aiokafka, and it checks that the place it replaces is still there.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Any

from aiokafka.consumer import fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import (
    DefaultRecordBase,
    DefaultRecordBatch,
    _DefaultRecordBatchPy,
    _DefaultRecordPy,
)
from aiokafka.record.legacy_records import LegacyRecordBatch
from aiokafka.record.util import decode_varint

_LENGTH_OFFSET = 8  # every message format starts with Offset (int64), Length (int32) ...
_LOG_OVERHEAD = 12
_MAGIC_OFFSET = 16  # ... and has its Magic byte here
_MIN_LEGACY_BATCH = _LOG_OVERHEAD + 14  # the smallest v0 message

UNREADABLE_BATCH = "dossierbus-unreadable-batch"
"""The header of a stand-in record for a batch no reader can parse; its value says why."""


def unreadable_batch(key: bytes | None, headers: Sequence[tuple[str, bytes | None]]) -> str | None:
    """Why the record is the stand-in for an unreadable batch; None for any other record."""
    if key is None and len(headers) == 1 and headers[0][0] == UNREADABLE_BATCH:
        return (headers[0][1] or b"").decode("utf-8", "replace")
    return None


class LenientMemoryRecords:
    """The record batches of one fetched partition, as aiokafka's MemoryRecords reads them."""

    def __init__(self, data: bytes) -> None:
        self._buffer = data
        self._pos = 0

    def size_in_bytes(self) -> int:
        return len(self._buffer)

    def has_next(self) -> bool:
        return self._next_end() is not None

    def next_batch(self) -> Any:
        end = self._next_end()
        if end is None:
            return None
        batch = bytes(memoryview(self._buffer)[self._pos : end])
        self._pos = end
        if len(batch) < _MIN_LEGACY_BATCH:
            return _UnreadableBatch(batch, "record batch shorter than the minimum record overhead")
        magic = batch[_MAGIC_OFFSET]
        if magic >= 2 and len(batch) < DefaultRecordBase.HEADER_STRUCT.size:
            return _UnreadableBatch(batch, "record batch shorter than its header")
        try:
            if magic >= 2:
                return _LenientBatch(batch)
            legacy = LegacyRecordBatch(batch, magic)  # formats without headers
        except Exception as error:
            return _UnreadableBatch(batch, f"unreadable record batch: {type(error).__name__}: {error}")
        if not legacy.validate_crc():
            return _UnreadableBatch(batch, "the record batch's CRC does not match its bytes")
        return legacy

    def _next_end(self) -> int | None:
        """Where the next complete batch ends; None when none is left (a fetch may end mid-batch)."""
        if len(self._buffer) - self._pos < _LOG_OVERHEAD:
            return None
        (length,) = struct.unpack_from(">i", self._buffer, self._pos + _LENGTH_OFFSET)
        end = self._pos + _LOG_OVERHEAD + length
        return end if length >= 0 and end <= len(self._buffer) else None


class _LenientBatch:
    """A v2 record batch read by aiokafka's fast reader, and by `_EscapingBatch` from the first record that
    reader cannot decode (the records already returned are not returned again); a stand-in record for
    what neither can read."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._fast = DefaultRecordBatch(data)
        self._records: Iterator[Any] | None = None

    def __getattr__(self, name: str) -> Any:  # base_offset, next_offset, is_control_batch ...
        return getattr(self._fast, name)

    def validate_crc(self) -> bool:
        return True  # checked when read: a mismatch becomes a stand-in record, not a failed fetch

    def __iter__(self) -> _LenientBatch:
        return self

    def __next__(self) -> Any:
        if self._records is None:
            self._records = self._read()
        return next(self._records)

    def _read(self) -> Iterator[Any]:
        if not self._fast.validate_crc():
            yield self._stand_in(self._fast.base_offset, "the record batch's CRC does not match its bytes")
            return
        returned = -1
        try:
            for record in self._fast:
                returned = record.offset
                yield record
            return
        except Exception:  # e.g. a header name that is not UTF-8: read again below
            pass
        try:
            escaped = list(_EscapingBatch(self._data))
        except Exception as error:
            first_unread = max(returned + 1, self._fast.base_offset)
            yield self._stand_in(first_unread, f"unreadable record batch: {type(error).__name__}: {error}")
            return
        yield from (record for record in escaped if record.offset > returned)

    def _stand_in(self, offset: int, reason: str) -> _DefaultRecordPy:
        fast = self._fast
        return _stand_in(offset, fast.max_timestamp, fast.timestamp_type, self._data, reason)


class _UnreadableBatch:
    """A batch whose header cannot even be read: one stand-in record at its base offset."""

    is_control_batch = False
    is_transactional = False
    producer_id = None

    def __init__(self, data: bytes, reason: str) -> None:
        (self.base_offset,) = struct.unpack_from(">q", data)
        self.next_offset = self.base_offset + 1
        self._records = iter([_stand_in(self.base_offset, -1, 0, data, reason)])

    def validate_crc(self) -> bool:
        return True  # what is wrong is said by the stand-in record

    def __iter__(self) -> Iterator[_DefaultRecordPy]:
        return self._records

    def __next__(self) -> _DefaultRecordPy:
        return next(self._records)


def _stand_in(offset: int, timestamp: int, timestamp_type: int, data: bytes, reason: str) -> _DefaultRecordPy:
    header = (UNREADABLE_BATCH, reason[:1000].encode())
    return _DefaultRecordPy(offset, timestamp, timestamp_type, None, data, [header])


class _EscapingBatch(_DefaultRecordBatchPy):  # type: ignore[misc]  # final only for typing
    """aiokafka's pure-Python batch reader, except that header names that are not UTF-8 are escaped."""

    def _read_msg(self, decode_varint: Any = decode_varint) -> _DefaultRecordPy:
        # Record => Length Attributes TimestampDelta OffsetDelta Key Value [HeaderKey HeaderValue]
        buffer: bytearray = self._buffer
        pos: int = self._pos  # type: ignore[has-type]  # set by aiokafka's untyped __init__
        length, pos = decode_varint(buffer, pos)
        start = pos
        _, pos = decode_varint(buffer, pos)
        timestamp_delta, pos = decode_varint(buffer, pos)
        offset_delta, pos = decode_varint(buffer, pos)
        key, pos = _nullable_bytes(buffer, pos)
        value, pos = _nullable_bytes(buffer, pos)
        count, pos = decode_varint(buffer, pos)
        if count < 0:
            raise CorruptRecordException(f"invalid number of record headers {count}")
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(count):
            name, pos = _nullable_bytes(buffer, pos)
            if name is None:
                raise CorruptRecordException("a record header without a name")
            header_value, pos = _nullable_bytes(buffer, pos)
            headers.append((name.decode("utf-8", "surrogateescape"), header_value))
        if pos - start != length:
            raise CorruptRecordException(f"record size {length} but {pos - start} bytes read")
        self._pos = pos
        timestamp = (
            self.max_timestamp
            if self.timestamp_type == self.LOG_APPEND_TIME
            else self.first_timestamp + timestamp_delta
        )
        return _DefaultRecordPy(
            self.base_offset + offset_delta, timestamp, self.timestamp_type, key, value, headers
        )


def _nullable_bytes(buffer: bytearray, pos: int) -> tuple[bytes | None, int]:
    length, pos = decode_varint(buffer, pos)
    if length < 0:
        return None, pos
    if pos + length > len(buffer):
        raise CorruptRecordException("a record field runs past the end of its batch")
    return bytes(buffer[pos : pos + length]), pos + length


def install() -> None:
    """Make aiokafka's fetcher read fetched partitions through LenientMemoryRecords (idempotent)."""
    current = getattr(fetcher, "MemoryRecords", None)
    if current is None:
        raise RuntimeError("aiokafka's fetcher no longer reads through MemoryRecords: review record_batches")
    fetcher.MemoryRecords = LenientMemoryRecords
