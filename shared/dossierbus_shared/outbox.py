"""Transactional outbox: an event is staged in the same transaction as the state change that causes it,
and a relay publishes staged rows to Kafka afterwards. No accepted change is lost, none is published
without its change having committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Table,
    Text,
    Uuid,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningUpdate

from dossierbus_shared.db import Database, after_commit, metadata, session_schema
from dossierbus_shared.db.writes import pending_writes
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.kafka import Producer
from dossierbus_shared.metrics import EVENTS_PRODUCED, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE
from dossierbus_shared.telemetry import context_from, current_trace_headers, send_span

log = logging.getLogger(__name__)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("event_type", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("headers", JSONB, nullable=False),
    Column("payload", Text, nullable=False),
    Column("trace_context", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    Index("ix_outbox_unsent", "id", postgresql_where=text("sent_at IS NULL")),
    Index("ix_outbox_unsent_key", "key", "id", postgresql_where=text("sent_at IS NULL")),
)


async def stage(session: AsyncSession, *envelopes: Envelope[Any]) -> None:
    """Stage events for publication; they go out only if the surrounding transaction commits."""
    stage_now(session, *envelopes)


def stage_now(session: AsyncSession, *envelopes: Envelope[Any]) -> None:
    """`stage` for code that does not await: the rows are written with the transaction's other pending
    writes (`dossierbus_shared.db.writes`), in one statement at its commit, so a batch of consumed records
    that stages events record after record costs no statement of its own. Each row keeps the trace
    context current when it is staged."""
    if not envelopes:
        return
    trace_context = current_trace_headers()
    rows = []
    for envelope in envelopes:
        record = envelope.to_kafka()
        rows.append(
            {
                "event_id": envelope.id,
                "event_type": envelope.type,
                "topic": record.topic,
                "key": envelope.key,
                "subject": envelope.subject,
                "headers": [[name, value.decode()] for name, value in record.headers],
                "payload": record.value.decode(),
                "trace_context": trace_context,
            }
        )
    pending_writes(session).insert(outbox, rows)  # in staging order: the relay publishes by id
    if not session.info.get(_STAGED):
        session.info[_STAGED] = True
        schema = session_schema(session)
        after_commit(session, lambda: _wake_relays(schema))


_STAGED = "outbox_staged"


_RELAYS: dict[str, set[OutboxRelay]] = {}
"""The relays running in this process, by schema: a commit that staged rows wakes those of its schema."""


def _wake_relays(schema: str) -> None:
    for relay in _RELAYS.get(schema, ()):
        relay.wake()


class OutboxRelay:
    """Publishes staged rows in order, in batches, then marks them sent.

    Rows are claimed with FOR UPDATE SKIP LOCKED, so several relays (one per service replica) share the
    work; a relay leaves alone the rows of a key whose earlier row another relay holds, which keeps the
    per-dossier order that consumers rely on.
    """

    def __init__(
        self,
        db: Database,
        producer: Producer,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.db = db
        self.producer = producer
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._claim = _claim(batch_size)

    async def run(self) -> None:
        """Publish until cancelled: woken by each commit of this process that staged rows, and every
        `poll_interval_s` for rows staged elsewhere (another replica, one that died before it published
        them, a round that failed)."""
        relays = _RELAYS.setdefault(self.db.schema, set())
        relays.add(self)
        try:
            while True:
                try:
                    while await self.publish_batch() == self.batch_size:
                        pass
                except Exception as error:  # broker or database away: keep the rows, try again
                    log.warning("outbox relay: %s; retrying", error)
                    await asyncio.sleep(self.poll_interval_s)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
                self._wake.clear()
        finally:
            relays.discard(self)

    def wake(self) -> None:
        """Rows were committed: publish them now rather than at the next poll."""
        self._wake.set()

    async def publish_batch(self) -> int:
        """Publish one batch; returns how many rows were published. The rows are claimed and marked sent
        in one statement, then published, then committed: a publish that fails rolls the mark back."""
        async with self.db.transaction() as session:
            rows = sorted((await session.execute(self._claim)).all(), key=lambda row: row.id)
            if not rows:
                return 0
            deliveries = [await self._send(row) for row in rows]
            await asyncio.gather(*deliveries)
            for row in rows:
                EVENTS_PRODUCED.labels(row.topic, row.event_type).inc()
            return len(rows)

    async def _send(self, row: Any) -> asyncio.Future[Any]:
        with send_span(
            row.topic,
            key=row.key,
            message_id=str(row.event_id),
            dossier_code=row.subject,
            parent=context_from(row.trace_context),
        ):
            headers = [(name, value.encode()) for name, value in row.headers]
            headers += [(name, value.encode()) for name, value in current_trace_headers().items()]
            delivery: asyncio.Future[Any] = await self.producer.client.send(
                row.topic, value=row.payload.encode(), key=row.key.encode(), headers=headers
            )
            return delivery

    async def sample_backlog(self) -> None:
        """Set the backlog gauges: unpublished rows and the age of the oldest."""
        async with self.db.transaction() as session:
            backlog, age = (
                await session.execute(
                    select(
                        func.count(),
                        func.coalesce(func.extract("epoch", func.now() - func.min(outbox.c.created_at)), 0),
                    ).where(outbox.c.sent_at.is_(None))
                )
            ).one()
        OUTBOX_BACKLOG.set(backlog)
        OUTBOX_OLDEST_AGE.set(float(age))


def _claim(batch_size: int) -> ReturningUpdate[Any]:
    """Lock the next unsent rows this relay can take and mark them sent, but those of a key whose earlier
    row another relay holds (they wait for it): one statement, its rows returned."""
    claimed = (
        select(outbox.c.id, outbox.c.key)
        .where(outbox.c.sent_at.is_(None))
        .order_by(outbox.c.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
        .cte("claimed")
    )
    unsent = outbox.alias("unsent")
    earliest = (
        select(func.min(unsent.c.id))
        .where(unsent.c.key == claimed.c.key, unsent.c.sent_at.is_(None))
        .scalar_subquery()
    )
    ranked = select(
        claimed.c.id,
        earliest.label("earliest_unsent"),
        func.min(claimed.c.id).over(partition_by=claimed.c.key).label("first_claimed"),
    ).cte("ranked")
    in_key_order = select(ranked.c.id).where(ranked.c.earliest_unsent >= ranked.c.first_claimed)
    return update(outbox).where(outbox.c.id.in_(in_key_order)).values(sent_at=func.now()).returning(*outbox.c)
