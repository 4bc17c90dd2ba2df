"""Consuming events exactly once in effect: parse, de-duplicate through the inbox, apply the handler in the
same transaction, retry a bounded number of times, then dead-letter. The Kafka offset is committed only
after the database commit (or the dead letter) is done.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_shared.db import Database
from dossierbus_shared.dlq import DeadLetterPublisher
from dossierbus_shared.envelope import Envelope, MalformedEvent, describe
from dossierbus_shared.events import Event
from dossierbus_shared.inbox import first_delivery
from dossierbus_shared.telemetry import mark_dossier
from dossierbus_shared.versions import UPCASTERS, Upcasters

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[AsyncSession, Envelope[Any]], Awaitable[None]]


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
        upcasters: Upcasters = UPCASTERS,
    ) -> None:
        self.db = db
        self.dead_letters = dead_letters
        self.retries = retries
        self.backoff_s = backoff_s
        self.upcasters = upcasters
        self.handlers: dict[type[Event], Handler] = {}

    def on(
        self, event_type: type[E]
    ) -> Callable[[Callable[[AsyncSession, Envelope[E]], Awaitable[None]]], Handler]:
        """Register the handler of one event type."""

        def register(handler: Callable[[AsyncSession, Envelope[E]], Awaitable[None]]) -> Handler:
            self.handlers[event_type] = handler
            return handler

        return register

    def dispatch(self, envelope: Envelope[Any]) -> tuple[Handler, Envelope[Any]] | None:
        """The handler of this event, and the event as it expects it: as received when it handles that
        version, else upcast to the version it handles. None when it handles no version of it.
        Raises MalformedEvent when an upcaster cannot convert this event."""
        handler = self.handlers.get(type(envelope.data))
        if handler is not None:
            return handler, envelope
        try:
            upcast = self.upcasters.upcast(envelope.data, self.handlers.keys())
        except ValidationError as error:
            raise MalformedEvent(f"cannot upcast {envelope.type}: {describe(error)}") from None
        except ValueError as error:
            raise MalformedEvent(f"cannot upcast {envelope.type}: {error}") from None
        if upcast is None:
            return None
        return self.handlers[type(upcast)], dataclasses.replace(envelope, data=upcast)

    async def process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            envelope = Envelope.from_kafka(record.value, record.headers)
        except MalformedEvent as error:
            await self.dead_letters.publish(
                record, reason=error.reason, error_type="MalformedEvent", attempts=1
            )
            return
        mark_dossier(envelope.subject, envelope.key)
        try:
            dispatched = self.dispatch(envelope)
        except MalformedEvent as error:
            await self.dead_letters.publish(
                record, reason=error.reason, error_type="MalformedEvent", attempts=1
            )
            return
        if dispatched is None:
            reason = f"this consumer does not handle {envelope.type}"
            await self.dead_letters.publish(
                record, reason=reason, error_type="UnhandledEventType", attempts=1
            )
            return
        handler, handled = dispatched
        attempts = 0
        while True:
            attempts += 1
            try:
                async with self.db.transaction() as session:
                    # The inbox records the event as received; the handler gets the version it handles.
                    if await first_delivery(session, envelope, record.topic, record.partition, record.offset):
                        await handler(session, handled)
                    else:
                        log.info("duplicate %s %s ignored", envelope.type, envelope.id)
                return
            except PermanentError as error:
                await self.dead_letters.publish(
                    record, reason=str(error), error_type=type(error).__name__, attempts=attempts
                )
                return
            except Exception as error:
                if attempts > self.retries:
                    await self.dead_letters.publish(
                        record, reason=f"{error}", error_type=type(error).__name__, attempts=attempts
                    )
                    return
                log.warning("attempt %s of %s failed for %s: %s", attempts, envelope.id, envelope.type, error)
                await asyncio.sleep(self.backoff_s * 2 ** (attempts - 1))
