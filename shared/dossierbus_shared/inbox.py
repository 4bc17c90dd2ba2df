"""Inbox: the consumer-side record of processed events. The event id is written in the same transaction
as the event's effect, so a redelivered event finds its id and does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from aiokafka.structs import ConsumerRecord
from sqlalchemy import BigInteger, Column, DateTime, Integer, Table, Text, Uuid, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_shared.db import metadata
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


async def first_deliveries(
    session: AsyncSession, received: Sequence[tuple[Envelope[Any], ConsumerRecord[bytes, bytes]]]
) -> set[UUID]:
    """Record events as processed, in one statement; the ids of those not processed before (the others
    are redeliveries). An id received twice in `received` is new at most once."""
    if not received:
        return set()
    rows = [
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
    inserted = await session.execute(
        insert(inbox).on_conflict_do_nothing(index_elements=[inbox.c.event_id]).returning(inbox.c.event_id),
        rows,
    )
    return set(inserted.scalars())
