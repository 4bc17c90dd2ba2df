"""Consuming events exactly once in effect: parse, de-duplicate through the inbox, apply the handler in the
same transaction, retry a bounded number of times, then dead-letter. The Kafka offset is committed only
after the database commit (or the dead letter) is done.

The records of one fetch share one transaction, so a busy consumer pays for a commit per fetch, not per
record; a record that fails sends its batch back to be applied one record at a time. A batch takes its
records for first deliveries and writes their inbox rows at the commit; a redelivered one fails that
commit, and the records applied one at a time then find it in the inbox. Records are finished
strictly in order (a dead letter is sent only once the records before it are applied), so when a dead
letter cannot be sent, everything before that record is done: DeadLetterFailed says which record it is.

An outage (the database, the broker or a peer away: dossierbus_shared.outages) is no fault of the record:
it uses up none of its tries and never dead-letters it; DependencyUnavailable says which record to read
again once the dependency is back. Only errors of the record itself use up tries and end in the DLQ; then
the later records of its dossier are parked behind it (dossierbus_shared.parking) until it is replayed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_shared.db import Database
from dossierbus_shared.dlq import DeadLetterPublisher
from dossierbus_shared.envelope import Envelope, MalformedEvent, describe, header_map
from dossierbus_shared.events import Event
from dossierbus_shared.inbox import (
    delivered_before,
    first_deliveries,
    is_redelivery,
    record_as_first_deliveries,
)
from dossierbus_shared.metrics import EVENTS_CONSUMED, HANDLER_DURATION, event_type_label
from dossierbus_shared.outages import is_outage
from dossierbus_shared.parking import (
    ParkedWatch,
    dossier_key,
    heads,
    mark_dead_lettered,
    park,
    remove,
)
from dossierbus_shared.record_batches import unreadable_batch
from dossierbus_shared.telemetry import dossier_scope, mark_dossier, process_span
from dossierbus_shared.unit_of_work import UnitOfWork
from dossierbus_shared.versions import UPCASTERS, Upcasters

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
T = TypeVar("T")
U = TypeVar("U", bound=UnitOfWork)
Handler = Callable[[Any, Envelope[Any]], Awaitable[None]]
"""Applies one event within a unit of work (the consumer's `unit_of_work` type)."""


PROCESSED, DUPLICATE, DEAD_LETTERED = "processed", "duplicate", "dead_lettered"
IGNORED = "ignored"  # of no concern to this consumer (`on(..., when=)`, `ignore`): no transaction at all
ROLLED_BACK = "rolled_back"  # a batch outcome only: its records are then processed alone
DEFERRED = "deferred"  # not finished (a dependency away): the record is read and tried again later
PARKED = "parked"  # waits in the database behind its dossier's dead letter


class PermanentError(Exception):
    """Processing this event can never succeed as it is: dead-letter it without retrying."""


class Unauthenticated(PermanentError):
    """The event is not from whom it claims to be: dead-lettered, and its id is not spent in the inbox, so
    a forgery cannot block the genuine event that carries the same id."""


Authenticator = Callable[[Envelope[Any]], Awaitable[None]]
Concern = Callable[[Envelope[Any]], bool]
"""Whether an event of a handled type concerns this consumer at all (see `EventConsumer.on`)."""


class Unfinished(Exception):
    """Processing stopped at `record` for a reason that is not the record's. The records before it in its
    batch are finished; it and those after it are not, and must be read again."""

    def __init__(self, record: ConsumerRecord[bytes, bytes], message: str) -> None:
        super().__init__(message)
        self.record = record


class DeadLetterFailed(Unfinished):
    """The dead letter of `record` could not be sent (e.g. the broker is away)."""

    def __init__(self, record: ConsumerRecord[bytes, bytes], cause: Exception) -> None:
        super().__init__(
            record, f"cannot dead-letter {record.topic}[{record.partition}]@{record.offset}: {cause}"
        )


class DependencyUnavailable(Unfinished):
    """A dependency (the database, the broker, a peer) was away while `record` was processed."""

    def __init__(self, record: ConsumerRecord[bytes, bytes], cause: BaseException) -> None:
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        super().__init__(record, f"{where} waits for a dependency: {type(cause).__name__}: {cause}")


class _ParkedDossierInRun(Exception):
    """A record of the batch belongs to a dossier with parked records: the batch goes one by one."""


class EventConsumer(Generic[U]):
    """Handlers take the service's unit of work: one per run of records applied in one transaction, loaded
    for all of them before the first handler runs and flushed once after the last."""

    def __init__(
        self,
        db: Database,
        dead_letters: DeadLetterPublisher,
        *,
        unit_of_work: Callable[[AsyncSession], U] | None = None,
        retries: int = 3,
        backoff_s: float = 0.2,
        backoff_max_s: float = 30.0,
        upcasters: Upcasters = UPCASTERS,
    ) -> None:
        self.db = db
        self.dead_letters = dead_letters
        self.unit_of_work = unit_of_work or cast(Callable[[AsyncSession], U], UnitOfWork)
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.upcasters = upcasters
        self.handlers: dict[type[Event], Handler] = {}
        self.authenticators: dict[type[Event], Authenticator] = {}
        self.concerns: dict[type[Event], Concern] = {}

    def on(
        self,
        event_type: type[E],
        *,
        authenticate: Authenticator | None = None,
        when: Callable[[Envelope[E]], bool] | None = None,
    ) -> Callable[[Callable[[U, Envelope[E]], Awaitable[None]]], Handler]:
        """Register the handler of one event type; `authenticate` raises Unauthenticated to refuse one.
        `when`: whether an event concerns the handler at all. One that does not (it would change nothing)
        is acknowledged once authenticated, without a transaction or an inbox row: a topic read for a few
        of its events costs nothing for the others.
        One handler per type: a second is refused (one handler makes all of an event's effects, in order)."""
        if event_type in self.handlers:
            raise ValueError(f"{event_type.__name__} already has a handler")

        def register(handler: Callable[[U, Envelope[E]], Awaitable[None]]) -> Handler:
            if event_type in self.handlers:
                raise ValueError(f"{event_type.__name__} already has a handler")
            self.handlers[event_type] = handler
            if authenticate is not None:
                self.authenticators[event_type] = authenticate
            if when is not None:
                self.concerns[event_type] = when
            return handler

        return register

    def ignore(self, event_type: type[Event], *, authenticate: Authenticator | None = None) -> None:
        """Take events of this type on a consumed topic without doing anything with them (they are not
        dead-lettered as unhandled); authenticated first, so a forgery is still refused."""

        async def nothing(work: U, envelope: Envelope[Any]) -> None:
            """Called only for a record applied alone (parked behind a dead letter, or authenticated late)."""

        self.on(event_type, authenticate=authenticate, when=lambda envelope: False)(nothing)

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
        """Process one record (a batch of one)."""
        await self.process_batch([record])

    async def process_batch(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Process the records of one fetch in order, in one transaction: one commit (and one offset
        commit) for the lot instead of one per record. Malformed and refused records are dead-lettered on
        the way; if any record of the batch fails, the batch is rolled back and each of its records is
        processed alone, with its own retries and dead letter. Raises DeadLetterFailed when a dead letter
        cannot be sent."""
        run: list[tuple[_Pending, _Ready]] = []
        for record in records:
            started = time.perf_counter()
            with dossier_scope():
                ready = await self._prepare(record)
            if isinstance(ready, _Ready) and ready.authenticate is None and not ready.concerned():
                # Counted, not traced: the status changes the registry does not act on were three of
                # its seven spans per dossier, and making and exporting a span costs more than this.
                _count(record, IGNORED, time.perf_counter() - started)
                continue
            pending = _Pending(record, process_span(record, self.dead_letters.consumer_group), started)
            with dossier_scope(), trace.use_span(pending.span, end_on_exit=False):
                if ready.envelope is not None:
                    mark_dossier(ready.envelope.subject, ready.envelope.key)
                if isinstance(ready, _Ready) and ready.authenticate is not None:
                    ready = await self._authenticate_early(ready)
            if isinstance(ready, _Refusal):  # the records before it first, so they finish in order
                await self._apply_run(run)
                run = []
                with dossier_scope(), trace.use_span(pending.span, end_on_exit=False):
                    if ready.envelope is not None:
                        mark_dossier(ready.envelope.subject, ready.envelope.key)
                    sending = self._dead_letter(record, ready.reason, ready.error_type, 1)
                    outcome = await pending.settle(sending)
                pending.end(outcome)
            elif ready.authenticate is None and not ready.concerned():
                pending.end(IGNORED)
            elif ready.authenticate is None:
                run.append((pending, ready))
            else:  # authentication could not be decided (e.g. the registry is away): retried alone
                await self._apply_run(run)
                run = []
                await self._process_alone(pending, ready)
        await self._apply_run(run)

    @property
    def consumer_group(self) -> str:
        return self.dead_letters.consumer_group

    @functools.cached_property
    def parked(self) -> ParkedWatch:
        """Run `parked.run` beside the consumer to skip the parked-records check while there are none."""
        return ParkedWatch(self.db, self.consumer_group)

    async def _process_alone(
        self, pending: _Pending, ready: _Ready, *, failed: Exception | None = None
    ) -> None:
        with dossier_scope(), trace.use_span(pending.span, end_on_exit=False):
            mark_dossier(ready.envelope.subject, ready.envelope.key)
            outcome, release = await pending.settle(self._apply_alone(ready, failed=failed))
        pending.end(outcome)
        if release is not None:
            try:
                await self._release(release)
            except Unfinished as unfinished:  # this record is done; reading it again resumes the release
                raise DependencyUnavailable(ready.record, unfinished) from unfinished

    async def _release(self, key: str) -> None:
        """Apply the records parked behind a dossier's dead letter, in order, once it has been applied;
        stop at the next dead letter, or when none is left."""
        while True:
            async with self.db.transaction() as session:
                head = (await heads(session, self.consumer_group, [key])).get(key)
            if head is None or head.dead_lettered:
                return
            pending = _Pending(head.record, process_span(head.record, self.consumer_group))
            with dossier_scope(), trace.use_span(pending.span, end_on_exit=False):
                prepared = await pending.settle(self._prepare(head.record))
                if isinstance(prepared, _Refusal):  # parsed when parked; not with the handlers of today
                    outcome = await pending.settle(
                        self._dead_letter_in_order(
                            head.record, head.event_id, prepared.reason, prepared.error_type, 1
                        )
                    )
                else:  # authenticated when it was parked
                    ready = dataclasses.replace(prepared, authenticate=None)
                    outcome, _ = await pending.settle(self._apply_alone(ready))
            pending.end(outcome)
            if outcome == DEAD_LETTERED:
                return

    async def _prepare(self, record: ConsumerRecord[bytes, bytes]) -> _Ready | _Refusal:
        """Parse the record and find its handler; why it is to be dead-lettered when it has none."""
        if (unreadable := unreadable_batch(record.key, record.headers)) is not None:
            return _Refusal(unreadable, "UnreadableRecordBatch")
        try:
            envelope = Envelope.from_kafka(record.value, record.headers, topic=record.topic)
        except MalformedEvent as error:
            return _Refusal(error.reason, "MalformedEvent")
        mark_dossier(envelope.subject, envelope.key)
        try:
            envelope = self.as_handled(envelope)
        except MalformedEvent as error:
            return _Refusal(error.reason, "MalformedEvent", envelope)
        event_type = type(envelope.data)
        handler = self.handlers.get(event_type)
        if handler is None:
            return _Refusal(f"this consumer does not handle {envelope.type}", "UnhandledEventType", envelope)
        return _Ready(
            record, envelope, handler, self.authenticators.get(event_type), self.concerns.get(event_type)
        )

    async def _authenticate_early(self, ready: _Ready) -> _Ready | _Refusal:
        """Authenticate before the batch's transaction: authentic -> no authentication left to do;
        refused -> why, to be dead-lettered; undecided -> unchanged, to be retried alone."""
        assert ready.authenticate is not None
        try:
            await ready.authenticate(ready.envelope)
        except Unauthenticated as error:
            log.warning("refused %s %s: %s", ready.envelope.type, ready.envelope.id, error)
            return _Refusal(str(error), type(error).__name__, ready.envelope)
        except Exception as error:
            log.warning("cannot authenticate %s %s yet: %s", ready.envelope.type, ready.envelope.id, error)
            return ready
        return dataclasses.replace(ready, authenticate=None)

    async def _apply_run(self, run: list[tuple[_Pending, _Ready]]) -> None:
        """Apply parsed, authenticated records in one transaction; their spans end once it commits. Each
        is taken for its first delivery (`record_as_first_deliveries`): a redelivered one fails the commit,
        and the records are then applied one by one, where the inbox tells it apart."""
        if not run:
            return
        ids: set[UUID] = set()
        firsts: list[bool] = []
        for _, ready in run:
            firsts.append(ready.envelope.id not in ids)  # the same event twice in one fetch: a duplicate
            ids.add(ready.envelope.id)
        culprit: _Pending | None = None  # the record whose handler is running
        try:
            async with self.db.transaction() as session:
                keys = [key for _, ready in run if (key := dossier_key(ready.record)) is not None]
                if not self.parked.none_waiting and await heads(session, self.consumer_group, keys):
                    raise _ParkedDossierInRun
                fresh = [ready for (_, ready), first in zip(run, firsts, strict=True) if first]
                record_as_first_deliveries(session, [(ready.envelope, ready.record) for ready in fresh])
                work = self.unit_of_work(session)
                await work.load([ready.envelope for ready in fresh])
                for (pending, ready), first in zip(run, firsts, strict=True):
                    culprit = pending
                    with dossier_scope(), trace.use_span(pending.span, end_on_exit=False):
                        mark_dossier(ready.envelope.subject, ready.envelope.key)
                        await self._handle(work, ready, first)
                    culprit = None
                await work.flush()
        except _ParkedDossierInRun:
            for pending, ready in run:
                await self._process_alone(pending, ready)
            return
        except Exception as error:
            # A record whose handler failed has had its first try; the others (or all, when the commit
            # failed: a redelivered event among them, or the database away) start afresh.
            if is_redelivery(error):
                log.info("a batch of %s records held a redelivered event; applying them one by one", len(run))
            else:
                log.warning(
                    "batch of %s records rolled back (%s: %s); processing them one by one",
                    len(run),
                    type(error).__name__,
                    error,
                )
            for pending, _ in run:
                pending.end(ROLLED_BACK, error if pending is culprit else None)
            for pending, ready in run:
                span = process_span(pending.record, self.dead_letters.consumer_group)
                failed = error if pending is culprit and await self._first_delivery(ready) else None
                await self._process_alone(_Pending(pending.record, span), ready, failed=failed)
            return
        for (pending, _), first in zip(run, firsts, strict=True):
            pending.end(PROCESSED if first else DUPLICATE)

    async def _apply(self, session: AsyncSession, ready: _Ready) -> bool:
        """Record the event in the inbox and, on its first delivery, apply its handler; whether it was
        the first delivery."""
        first = ready.envelope.id in await first_deliveries(session, [(ready.envelope, ready.record)])
        work = self.unit_of_work(session)
        if first:
            await work.load([ready.envelope])
        await self._handle(work, ready, first)
        await work.flush()
        return first

    async def _first_delivery(self, ready: _Ready) -> bool:
        """Whether the inbox is known not to hold the event. A batch runs the handlers of redelivered
        events too (it finds them at the commit): one that failed there is a duplicate, not a failed first
        try, which could otherwise be dead-lettered at once (a permanent error). Unknown (the database
        away): not known, so the record is tried again alone, where the inbox is asked first."""
        try:
            async with self.db.transaction() as session:
                return not await delivered_before(session, ready.envelope.id)
        except Exception:
            return False

    async def _handle(self, work: U, ready: _Ready, first: bool) -> None:
        if first:
            await ready.handler(work, ready.envelope)
        else:
            log.info("duplicate %s %s ignored", ready.envelope.type, ready.envelope.id)

    async def _apply_alone(self, ready: _Ready, *, failed: Exception | None = None) -> tuple[str, str | None]:
        """Authenticate and apply one record in its own transaction, retrying a bounded number of times,
        then dead-lettering; `failed`: how its first attempt (in a batch) already failed. Returns the
        outcome (processed, duplicate, parked or dead_lettered) and the dossier whose parked records are
        to be released now, if any. Raises Unfinished when a dependency is away."""
        attempts, error = (0, None) if failed is None else (1, failed)
        while True:
            if error is not None and (outcome := await self._after_failure(ready, error, attempts)):
                return outcome, None
            attempts += 1
            try:
                if ready.authenticate is not None:
                    await ready.authenticate(ready.envelope)
                async with self.db.transaction() as session:
                    return await self._apply_in_order(session, ready)
            except Exception as caught:
                error = caught

    async def _apply_in_order(self, session: AsyncSession, ready: _Ready) -> tuple[str, str | None]:
        """Apply the record, unless its dossier waits behind a dead letter: then park it. Applying the
        dossier's first waiting record (its dead letter replayed, or a parked one released) lifts it."""
        key = dossier_key(ready.record)
        head = None
        if key is not None and not self.parked.none_waiting:
            head = (await heads(session, self.consumer_group, [key])).get(key)
        if head is None or key is None:
            return PROCESSED if await self._apply(session, ready) else DUPLICATE, None
        if head.event_id == ready.envelope.id:
            first = await self._apply(session, ready)
            await remove(session, head.id)
            return PROCESSED if first else DUPLICATE, key
        self.parked.parking()
        await park(session, self.consumer_group, key, ready.record, ready.envelope.id, ready.envelope.type)
        log.warning(
            "parked %s %s: dossier %s waits behind dead-lettered event %s",
            ready.envelope.type,
            ready.envelope.id,
            key,
            head.event_id,
        )
        # A head that is not a dead letter is a release that was interrupted: resume it.
        return PARKED, None if head.dead_lettered else key

    async def _after_failure(self, ready: _Ready, error: Exception, attempts: int) -> str | None:
        """Dead-letter the record when the error is permanent or its tries are used up (returning the
        outcome); else wait before the next try (returning None). An outage raises DependencyUnavailable:
        the record is read again once the dependency is back, with all its tries."""
        if isinstance(error, Unfinished):
            raise error
        if isinstance(error, Unauthenticated):
            await self._refuse(ready, error, attempts=attempts)
            return DEAD_LETTERED
        if is_outage(error):
            raise DependencyUnavailable(ready.record, error) from error
        if isinstance(error, PermanentError) or attempts > self.retries:
            reason, error_type = str(error), type(error).__name__
            return await self._dead_letter_in_order(
                ready.record, ready.envelope.id, reason, error_type, attempts
            )
        trace.get_current_span().record_exception(error)
        log.warning(
            "attempt %s of %s failed for %s: %s", attempts, ready.envelope.id, ready.envelope.type, error
        )
        await asyncio.sleep(min(self.backoff_s * 2 ** (attempts - 1), self.backoff_max_s))
        return None

    async def _refuse(self, ready: _Ready, error: Unauthenticated, *, attempts: int) -> None:
        log.warning("refused %s %s: %s", ready.envelope.type, ready.envelope.id, error)
        await self._dead_letter(ready.record, str(error), type(error).__name__, attempts)

    async def _dead_letter_in_order(
        self,
        record: ConsumerRecord[bytes, bytes],
        event_id: UUID,
        reason: str,
        error_type: str,
        attempts: int,
    ) -> str:
        """Dead-letter an authentic record, and make the later records of its dossier wait behind it. The
        letter is sent first: if the marker cannot be written, the record is read again (and dead-lettered
        again: its replay is then a duplicate) rather than a later record of its dossier applied first."""
        outcome = await self._dead_letter(record, reason, error_type, attempts)
        if (key := dossier_key(record)) is not None:
            event_type = header_map(record.headers).get("ce_type", "")
            self.parked.parking()
            try:
                async with self.db.transaction() as session:
                    await mark_dead_lettered(
                        session, self.consumer_group, key, record, event_id, event_type, reason
                    )
            except Exception as error:
                raise DependencyUnavailable(record, error) from error
        return outcome

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], reason: str, error_type: str, attempts: int
    ) -> str:
        try:
            await self.dead_letters.publish(record, reason=reason, error_type=error_type, attempts=attempts)
        except Exception as error:
            raise DeadLetterFailed(record, error) from error
        return DEAD_LETTERED


@dataclasses.dataclass(frozen=True)
class _Refusal:
    """Why a record is dead-lettered without being applied."""

    reason: str
    error_type: str
    envelope: Envelope[Any] | None = None  # when it could be parsed


@dataclasses.dataclass(frozen=True)
class _Ready:
    """A parsed record with the handler that takes it, and the authentication it still needs."""

    record: ConsumerRecord[bytes, bytes]
    envelope: Envelope[Any]
    handler: Handler
    authenticate: Authenticator | None
    concerns: Concern | None = None

    def concerned(self) -> bool:
        try:
            return self.concerns is None or self.concerns(self.envelope)
        except Exception:  # applied, then: a failing handler is retried and dead-lettered as usual
            log.exception(
                "cannot tell whether %s %s concerns this consumer", self.envelope.type, self.envelope.id
            )
            return True


@dataclasses.dataclass(frozen=True)
class _Pending:
    """A record of a batch with its span, open until the record's outcome is known."""

    record: ConsumerRecord[bytes, bytes]
    span: Span
    started: float = dataclasses.field(default_factory=time.perf_counter)

    async def settle(self, outcome: Awaitable[T]) -> T:
        """The record's outcome; if getting it raises, its span ends as deferred before the error goes on."""
        try:
            return await outcome
        except Exception as error:
            self.end(DEFERRED, error)
            raise

    def end(self, outcome: str, error: Exception | None = None) -> None:
        if error is not None:
            self.span.record_exception(error)
        if outcome == DEAD_LETTERED:
            self.span.set_status(Status(StatusCode.ERROR, "dead-lettered"))
        elif outcome == ROLLED_BACK:
            self.span.set_status(Status(StatusCode.ERROR, "rolled back with its batch; processed alone"))
        elif outcome == DEFERRED:
            self.span.set_status(Status(StatusCode.ERROR, "not finished; read again later"))
        self.span.end()
        if outcome not in (ROLLED_BACK, DEFERRED):  # counted when finished
            _count(self.record, outcome, time.perf_counter() - self.started)


def _count(record: ConsumerRecord[bytes, bytes], outcome: str, seconds: float) -> None:
    event_type = event_type_label(header_map(record.headers).get("ce_type"))
    HANDLER_DURATION.labels(record.topic, event_type).observe(seconds)
    EVENTS_CONSUMED.labels(record.topic, event_type, outcome).inc()
