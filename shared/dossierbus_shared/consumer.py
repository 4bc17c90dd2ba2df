"""Consuming events exactly once in effect: parse, de-duplicate through the inbox, apply the handler in the
same transaction, retry a bounded number of times, then dead-letter. The Kafka offset is committed only
after the database commit (or the dead letter) is done.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_shared.db import Database
from dossierbus_shared.dlq import DeadLetterPublisher
from dossierbus_shared.envelope import Envelope, MalformedEvent, describe, header_map
from dossierbus_shared.events import Event
from dossierbus_shared.inbox import first_delivery
from dossierbus_shared.metrics import EVENTS_CONSUMED, HANDLER_DURATION, event_type_label
from dossierbus_shared.telemetry import mark_dossier, process_span
from dossierbus_shared.versions import UPCASTERS, Upcasters

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[AsyncSession, Envelope[Any]], Awaitable[None]]


PROCESSED, DUPLICATE, DEAD_LETTERED = "processed", "duplicate", "dead_lettered"


class PermanentError(Exception):
    """Processing this event can never succeed as it is: dead-letter it without retrying."""


class Unauthenticated(PermanentError):
    """The event is not from whom it claims to be: dead-lettered, and its id is not spent in the inbox, so
    a forgery cannot block the genuine event that carries the same id."""


Authenticator = Callable[[Envelope[Any]], Awaitable[None]]


class EventConsumer:
    def __init__(
        self,
        db: Database,
        dead_letters: DeadLetterPublisher,
        *,
        retries: int = 3,
        backoff_s: float = 0.2,
        upcasters: Upcasters = UPCASTERS,
    ) -> None:
        self.db = db
        self.dead_letters = dead_letters
        self.retries = retries
        self.backoff_s = backoff_s
        self.upcasters = upcasters
        self.handlers: dict[type[Event], Handler] = {}
        self.authenticators: dict[type[Event], Authenticator] = {}

    def on(
        self, event_type: type[E], *, authenticate: Authenticator | None = None
    ) -> Callable[[Callable[[AsyncSession, Envelope[E]], Awaitable[None]]], Handler]:
        """Register the handler of one event type; `authenticate` raises Unauthenticated to refuse one."""

        def register(handler: Callable[[AsyncSession, Envelope[E]], Awaitable[None]]) -> Handler:
            self.handlers[event_type] = handler
            if authenticate is not None:
                self.authenticators[event_type] = authenticate
            return handler

        return register

    def as_handled(self, envelope: Envelope[Any]) -> Envelope[Any]:
        """The event as this consumer's handlers expect it: as received when a handler takes that version,
        else upcast to the first later version one takes (same id, source, time and received record, so
        de-duplication and signature checks are unchanged); as received when none is reachable.
        Raises MalformedEvent when an upcaster cannot convert this event."""
        if type(envelope.data) in self.handlers:
            return envelope
        try:
            upcast = self.upcasters.upcast(envelope.data, self.handlers.keys())
        except ValidationError as error:
            raise MalformedEvent(f"cannot upcast {envelope.type}: {describe(error)}") from None
        except ValueError as error:
            raise MalformedEvent(f"cannot upcast {envelope.type}: {error}") from None
        return envelope if upcast is None else dataclasses.replace(envelope, data=upcast)

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
        try:
            envelope = self.as_handled(envelope)
        except MalformedEvent as error:
            await self.dead_letters.publish(
                record, reason=error.reason, error_type="MalformedEvent", attempts=1
            )
            return DEAD_LETTERED
        handler = self.handlers.get(type(envelope.data))
        if handler is None:
            reason = f"this consumer does not handle {envelope.type}"
            await self.dead_letters.publish(
                record, reason=reason, error_type="UnhandledEventType", attempts=1
            )
            return DEAD_LETTERED
        authenticate = self.authenticators.get(type(envelope.data))
        attempts = 0
        while True:
            attempts += 1
            try:
                if authenticate is not None:
                    await authenticate(envelope)
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
                if isinstance(error, Unauthenticated):
                    log.warning("refused %s %s: %s", envelope.type, envelope.id, error)
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
