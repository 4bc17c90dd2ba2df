"""Parking: the records of a dossier wait behind its dead letter.

When a consumer dead-letters an authentic record of a dossier (Kafka key = dossier id), the later records
of that dossier on that consumer group must not be applied before it: they would be applied out of order
(and refused as illegal transitions, their event ids spent). So the dead letter leaves a marker in the
`parked` table, and every later record of that dossier is parked behind it, in arrival order: stored whole
in the service's own database (so its offset can be committed), not applied, its event id not spent.

`ParkedWatch` spares the consumer the check of each batch against the table while its group has no row
there at all, the usual case: every row is written with a NOTIFY, which the watch listens for.

The marker is lifted when the dead-lettered event itself is applied (`dossierbus-dlq replay` sends it back
to its topic), in the transaction that applies it; the parked records are then applied one by one, in
order, each in the transaction that deletes its row. A parked record that fails in turn becomes the
dossier's new marker. An operator can also discard a dossier's parked records (`dossierbus-parked`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from uuid import UUID

from aiokafka.structs import ConsumerRecord
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    delete,
    exists,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_shared.db import Database, metadata, session_schema
from dossierbus_shared.db.listen import listen

log = logging.getLogger(__name__)

parked = Table(
    "parked",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),  # the order within a dossier
    Column("consumer_group", Text, nullable=False),
    Column("dossier_key", Text, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("event_type", Text, nullable=False),
    # True: the dossier's dead-lettered record, waiting for its replay; false: a record parked behind it.
    Column("dead_lettered", Boolean, nullable=False),
    Column("reason", Text),  # why it was dead-lettered
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("key", LargeBinary),
    Column("value", LargeBinary),  # a parked record only: the dead letter is in the DLQ topic
    Column("headers", JSONB, nullable=False),  # [[name as hex of its bytes, value as hex or null]]
    Column("parked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("consumer_group", "event_id"),
    Index("ix_parked_consumer_group_dossier_key_id", "consumer_group", "dossier_key", "id"),
)


@dataclass(frozen=True)
class Head:
    """The first waiting row of a dossier."""

    id: int
    event_id: UUID
    dead_lettered: bool
    record: ConsumerRecord[bytes, bytes]


def dossier_key(record: ConsumerRecord[bytes, bytes]) -> str | None:
    key: bytes | None = record.key
    return None if key is None else key.decode("utf-8", "replace")


async def heads(session: AsyncSession, group: str, keys: Sequence[str]) -> dict[str, Head]:
    """The first waiting row of each of these dossiers that has one."""
    if not keys:
        return {}
    first = (
        select(parked)
        .where(parked.c.consumer_group == group, parked.c.dossier_key.in_(set(keys)))
        .ext(distinct_on(parked.c.dossier_key))
        .order_by(parked.c.dossier_key, parked.c.id)
    )
    rows = (await session.execute(first)).all()
    return {row.dossier_key: _head(row) for row in rows}


async def park(
    session: AsyncSession,
    group: str,
    key: str,
    record: ConsumerRecord[bytes, bytes],
    event_id: UUID,
    event_type: str,
) -> None:
    """Park a record behind its dossier's dead letter (once: a redelivery of it is not parked again)."""
    await session.execute(
        insert(parked)
        .values(_row(group, key, record, event_id, event_type, dead_lettered=False, reason=None))
        .on_conflict_do_nothing(index_elements=[parked.c.consumer_group, parked.c.event_id])
    )
    await _notify(session)


async def mark_dead_lettered(
    session: AsyncSession,
    group: str,
    key: str,
    record: ConsumerRecord[bytes, bytes],
    event_id: UUID,
    event_type: str,
    reason: str,
) -> None:
    """Make this record its dossier's marker: a new row, or its parked row (then the head) turned into one."""
    row = _row(group, key, record, event_id, event_type, dead_lettered=True, reason=reason[:4000])
    await session.execute(
        insert(parked)
        .values(row)
        .on_conflict_do_update(
            index_elements=[parked.c.consumer_group, parked.c.event_id],
            set_={"dead_lettered": True, "reason": row["reason"], "value": None},
        )
    )
    await _notify(session)


async def remove(session: AsyncSession, row_id: int) -> None:
    await session.execute(delete(parked).where(parked.c.id == row_id))


def parked_channel(schema: str) -> str:
    return f"parked_{schema}"


async def _notify(session: AsyncSession) -> None:
    """Tell every replica's ParkedWatch, at commit, that the group has a row."""
    channel = parked_channel(session_schema(session))
    await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


class ParkedWatch:
    """Whether a consumer group is known to have no row in `parked`, so that its batches need not ask.

    Unknown (so asked) until it has listened for the rows' NOTIFY and then found none; unknown again at
    every NOTIFY, when this process is about to write a row (`parking`, before its NOTIFY could come back),
    and while listening is lost; while unknown, it looks again every `recheck_s`. A row written by another
    replica is heeded once its NOTIFY arrives (milliseconds after its commit), as it was once that
    replica's transaction had committed when every batch asked.
    """

    def __init__(self, db: Database, group: str, *, recheck_s: float = 2.0) -> None:
        self.db = db
        self.group = group
        self.recheck_s = recheck_s
        self._none = False
        self._listening = False
        self._changes = 0

    @property
    def none_waiting(self) -> bool:
        return self._none

    def parking(self) -> None:
        """A row is (about to be) written for the group."""
        self._changes += 1
        self._none = False

    async def run(self) -> NoReturn:
        """Listen, and look whenever it is unknown, until cancelled."""
        channel = parked_channel(self.db.schema)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(listen(self.db, channel, self._notified, listening=self._heard))
            while True:
                await self.check()
                await asyncio.sleep(self.recheck_s)

    def _notified(self, _payload: str) -> None:
        self.parking()

    def _heard(self, listening: bool) -> None:
        self._listening = listening
        self.parking()  # a NOTIFY may have gone unheard meanwhile

    async def check(self) -> None:
        """Find out, while listening and when it is unknown, whether the group has no row."""
        if self._none or not self._listening:
            return
        changes = self._changes
        try:
            async with self.db.transaction() as session:
                waiting = await session.scalar(select(exists().where(parked.c.consumer_group == self.group)))
        except Exception as error:  # the database away: the batches ask, as they would anyway
            log.info("cannot look for parked records of %s: %s", self.group, error)
            return
        # A NOTIFY heard while looking may be of a row the look did not see.
        if not waiting and changes == self._changes and self._listening:
            self._none = True


def _row(
    group: str,
    key: str,
    record: ConsumerRecord[bytes, bytes],
    event_id: UUID,
    event_type: str,
    *,
    dead_lettered: bool,
    reason: str | None,
) -> dict[str, Any]:
    return {
        "consumer_group": group,
        "dossier_key": key,
        "event_id": event_id,
        "event_type": event_type,
        "dead_lettered": dead_lettered,
        "reason": reason,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "key": record.key,
        "value": None if dead_lettered else record.value,
        "headers": [
            [name.encode("utf-8", "surrogateescape").hex(), None if value is None else value.hex()]
            for name, value in record.headers
        ],
    }


def _head(row: Any) -> Head:
    headers: Any = tuple(
        (
            bytes.fromhex(name).decode("utf-8", "surrogateescape"),
            None if value is None else bytes.fromhex(value),
        )
        for name, value in row.headers
    )
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic=row.topic,
        partition=row.partition,
        offset=row.offset,
        timestamp=row.timestamp,
        timestamp_type=0,
        key=row.key,
        value=row.value,
        checksum=None,
        serialized_key_size=len(row.key or b""),
        serialized_value_size=len(row.value or b""),
        headers=headers,
    )
    return Head(row.id, row.event_id, row.dead_lettered, record)
