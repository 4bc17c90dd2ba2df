"""Inbox: the consumer-side record of processed events. The event id is written in the same transaction
as the event's effect, so a redelivered event finds its id and does nothing.
"""

from __future__ import annotations

from typing import Any

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


async def first_delivery(
    session: AsyncSession, envelope: Envelope[Any], topic: str, partition: int, offset: int
) -> bool:
    """Record the event as processed; False when it already was (a redelivery)."""
    result = await session.execute(
        insert(inbox)
        .values(
            event_id=envelope.id,
            event_type=envelope.type,
            source=envelope.source,
            subject=envelope.subject,
            topic=topic,
            partition=partition,
            offset=offset,
        )
        .on_conflict_do_nothing(index_elements=[inbox.c.event_id])
        .returning(inbox.c.event_id)
    )
    return result.first() is not None
