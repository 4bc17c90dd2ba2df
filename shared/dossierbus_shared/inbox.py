"""Inbox: the consumer-side record of processed events. The event id is written in the same transaction
as the event's effect, so a redelivered event finds its id and does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from aiokafka.structs import ConsumerRecord
from sqlalchemy import BigInteger, Column, DateTime, Integer, Table, Text, Uuid, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_shared.db import metadata
from dossierbus_shared.db.writes import pending_writes
from dossierbus_shared.envelope import Envelope

inbox = Table(
    "inbox",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("event_type", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


Received = Sequence[tuple[Envelope[Any], ConsumerRecord[bytes, bytes]]]


async def first_deliveries(session: AsyncSession, received: Received) -> set[UUID]:
    """Record events as processed, in one statement; the ids of those not processed before (the others
    are redeliveries). An id received twice in `received` is new at most once."""
    if not received:
        return set()
    inserted = await session.execute(
        insert(inbox).on_conflict_do_nothing(index_elements=[inbox.c.event_id]).returning(inbox.c.event_id),
        _rows(received),
    )
    return set(inserted.scalars())


def record_as_first_deliveries(session: AsyncSession, received: Received) -> None:
    """Record events as processed, taking each for its first delivery: no statement of its own, the rows
    go with the transaction's other writes at its commit (`dossierbus_shared.db.writes`). A redelivered
    one breaks the inbox's key and fails the commit, and with it the transaction; the caller then applies
    the records again through `first_deliveries`. Redeliveries are rare (after a crash, a rebalance or a
    lost offset commit), so a batch saves a round trip and pays, when one comes, a second try."""
    pending_writes(session).insert(inbox, _rows(received))


async def delivered_before(session: AsyncSession, event_id: UUID) -> bool:
    """Whether the inbox holds this event: it was processed before."""
    found = await session.scalar(select(inbox.c.event_id).where(inbox.c.event_id == event_id))
    return found is not None


def is_redelivery(error: BaseException) -> bool:
    """Whether `error` is the failed commit of `record_as_first_deliveries` for an event already there."""
    cause = error.orig.__cause__ if isinstance(error, IntegrityError) and error.orig is not None else None
    return getattr(cause, "constraint_name", None) == inbox.primary_key.name


def _rows(received: Received) -> list[dict[str, Any]]:
    return [
        {
            "event_id": envelope.id,
            "event_type": envelope.type,
            "source": envelope.source,
            "subject": envelope.subject,
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
        }
        for envelope, record in received
    ]
