"""Consuming events exactly once in effect: parse, de-duplicate through the inbox, apply the handler in the
same transaction, retry a bounded number of times, then dead-letter. The Kafka offset is committed only
after the database commit (or the dead letter) is done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_shared.db import Database
from dossierbus_shared.dlq import DeadLetterPublisher
from dossierbus_shared.envelope import Envelope, MalformedEvent, header_map
from dossierbus_shared.events import Event
from dossierbus_shared.inbox import first_delivery
from dossierbus_shared.metrics import EVENTS_CONSUMED, HANDLER_DURATION, event_type_label
from dossierbus_shared.telemetry import mark_dossier, process_span

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[AsyncSession, Envelope[Any]], Awaitable[None]]


PROCESSED, DUPLICATE, DEAD_LETTERED = "processed", "duplicate", "dead_lettered"


class PermanentError(Exception):
    """Processing this event can never succeed as it is: dead-letter it without retrying."""


class EventConsumer:
    def __init__(
        self,
        db: Database,
        dead_letters: DeadLetterPublisher,
        *,
        retries: int = 3,
        backoff_s: float = 0.2,
    ) -> None:
        self.db = db
        self.dead_letters = dead_letters
        self.retries = retries
        self.backoff_s = backoff_s
        self.handlers: dict[type[Event], Handler] = {}

    def on(
        self, event_type: type[E]
    ) -> Callable[[Callable[[AsyncSession, Envelope[E]], Awaitable[None]]], Handler]:
        """Register the handler of one event type."""

        def register(handler: Callable[[AsyncSession, Envelope[E]], Awaitable[None]]) -> Handler:
            self.handlers[event_type] = handler
            return handler

        return register

    async def process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Process one record inside a CONSUMER span of the record's trace, counting the outcome."""
        event_type = event_type_label(header_map(record.headers).get("ce_type"))
        started = time.perf_counter()
        with process_span(record, self.dead_letters.consumer_group) as span:
            outcome = await self._process(record)
            if outcome == DEAD_LETTERED:
                span.set_status(Status(StatusCode.ERROR, "dead-lettered"))
        HANDLER_DURATION.labels(record.topic, event_type).observe(time.perf_counter() - started)
        EVENTS_CONSUMED.labels(record.topic, event_type, outcome).inc()

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> str:
        """Returns the outcome: processed, duplicate or dead_lettered."""
        try:
            envelope = Envelope.from_kafka(record.value, record.headers)
        except MalformedEvent as error:
            await self.dead_letters.publish(
                record, reason=error.reason, error_type="MalformedEvent", attempts=1
            )
            return DEAD_LETTERED
        mark_dossier(envelope.subject, envelope.key)
        handler = self.handlers.get(type(envelope.data))
        if handler is None:
            reason = f"this consumer does not handle {envelope.type}"
            await self.dead_letters.publish(
                record, reason=reason, error_type="UnhandledEventType", attempts=1
            )
            return DEAD_LETTERED
        attempts = 0
        while True:
            attempts += 1
            try:
                async with self.db.transaction() as session:
                    first = await first_delivery(
                        session, envelope, record.topic, record.partition, record.offset
                    )
                    if first:
                        await handler(session, envelope)
                if not first:
                    log.info("duplicate %s %s ignored", envelope.type, envelope.id)
                return PROCESSED if first else DUPLICATE
            except PermanentError as error:
                await self.dead_letters.publish(
                    record, reason=str(error), error_type=type(error).__name__, attempts=attempts
                )
                return DEAD_LETTERED
            except Exception as error:
                if attempts > self.retries:
                    await self.dead_letters.publish(
                        record, reason=f"{error}", error_type=type(error).__name__, attempts=attempts
                    )
                    return DEAD_LETTERED
                trace.get_current_span().record_exception(error)
                log.warning("attempt %s of %s failed for %s: %s", attempts, envelope.id, envelope.type, error)
                await asyncio.sleep(self.backoff_s * 2 ** (attempts - 1))
