"""The service's consume loop: a consumer group reading its topics (named, or matching a pattern, including
topics created while it runs), handing the records of each fetch to the EventConsumer at once (partition
after partition, each in its order: one transaction for them, not one per partition), and committing a
partition's offset only once its records are applied (database commit) or dead-lettered, the offsets of a
fetch in one request. That request is not waited for: the next fetch is applied while it is under way
(one at a time, offsets that piled up meanwhile merged into the next), and the pending one is finished
before the partitions are handed to another member and when the subscription stops. A crash before it
lands only means those records are read again, and the inbox knows them.

Nothing a record holds can stop the loop: records are read leniently (dossierbus_shared.record_batches)
and parsed one by one by the EventConsumer, which dead-letters what it cannot use. What can still fail is
the infrastructure (the database, the broker refusing a dead letter, a peer away): then that partition is
rewound to its first unfinished record and paused for a while that doubles with each failure (capped at
CONSUMER_RETRY_BACKOFF_MAX_S), and the other partitions go on; it is tried again for as long as the outage
lasts, without using up the record's tries or dead-lettering it. A failed fetch is retried after the same
kind of wait, from where processing stood.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from dossierbus_shared import record_batches
from dossierbus_shared.consumer import Unfinished
from dossierbus_shared.kafka import KafkaSecurity
from dossierbus_shared.settings import ServiceSettings

log = logging.getLogger(__name__)

Process = Callable[[Sequence[ConsumerRecord[bytes, bytes]]], Awaitable[None]]

MIN_BACKOFF_S = 0.1
"""The shortest wait before a failed partition or fetch is tried again, whatever the settings say."""

_IDLE_POLL_MS = 500

LAST_COMMIT_S = 5.0
"""How long a rebalance or a stop waits for the offset commit under way."""


@dataclass(frozen=True)
class Backoff:
    """Waits that double from `initial_s` with each consecutive failure, up to `max_s`."""

    initial_s: float
    max_s: float

    def delay(self, failures: int) -> float:
        initial = max(self.initial_s, MIN_BACKOFF_S)
        return float(min(initial * 2 ** max(failures - 1, 0), max(self.max_s, initial)))


class Subscription:
    def __init__(
        self,
        settings: ServiceSettings,
        process: Process,
        *,
        topics: Sequence[str] = (),
        pattern: str | None = None,
    ) -> None:
        """`topics` or `pattern` (a regular expression that Kafka matches against topic names)."""
        if bool(topics) == bool(pattern):
            raise ValueError("a subscription takes topics or a pattern")
        record_batches.install()
        self.settings = settings
        self.process = process
        self.topics = list(topics)
        self.pattern = pattern
        self.backoff = Backoff(settings.consumer_retry_backoff_s, settings.consumer_retry_backoff_max_s)
        self._consumer: AIOKafkaConsumer | None = None
        self._failures: dict[TopicPartition, int] = {}  # consecutive failures of a partition
        self._paused_until: dict[TopicPartition, float] = {}
        self._fetch_failures = 0
        self._to_commit: dict[TopicPartition, int] = {}
        self._committer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        settings = self.settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            **KafkaSecurity.from_settings(settings).client_options(),
            client_id=f"dossierbus-{settings.service_name}",
            group_id=settings.consumer_group,
            enable_auto_commit=False,  # committed by `_commit`, after the database commit or dead letter
            auto_offset_reset="earliest",
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            request_timeout_ms=settings.kafka_request_timeout_ms,
            # How soon a new topic matching the pattern is noticed.
            metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_session_timeout_ms // 3,
        )
        listener = _ForgetRevoked(self)
        if self.pattern:
            consumer.subscribe(pattern=self.pattern, listener=listener)
        else:
            consumer.subscribe(topics=self.topics, listener=listener)
        await consumer.start()
        self._consumer = consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self.commits_sent()
            await self._consumer.stop()
            self._consumer = None

    @property
    def consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the subscription is not started")
        return self._consumer

    async def run(self) -> None:
        """Consume until cancelled."""
        while True:
            self._resume_due()
            try:
                fetched = await self._fetch()
            except Exception as error:
                await self._fetch_failed(error)
                continue
            self._fetch_failures = 0
            batches = [
                (partition, records)
                for partition, records in fetched.items()
                if records and partition not in self._paused_until
            ]
            if batches:
                await self._handle(batches)

    async def _fetch(self) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        """What the next fetch brings; with a linger, what more arrives in it too (up to a full batch), each
        partition's records in order."""
        limit = self.settings.consumer_batch_size
        fetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = await self.consumer.getmany(
            timeout_ms=self._poll_ms(), max_records=limit
        )
        linger_s = self.settings.consumer_linger_ms / 1000
        if not fetched or not linger_s:
            return fetched
        deadline = time.monotonic() + linger_s
        count = sum(len(records) for records in fetched.values())
        while count < limit and (left := deadline - time.monotonic()) > 0:
            more = await self.consumer.getmany(timeout_ms=int(left * 1000) + 1, max_records=limit - count)
            for partition, records in more.items():
                fetched.setdefault(partition, []).extend(records)
                count += len(records)
        return fetched

    async def _handle(self, batches: list[tuple[TopicPartition, list[ConsumerRecord[bytes, bytes]]]]) -> None:
        """Apply a fetch's records; commit what is finished, back off from the partition that could not
        finish, and read again the partitions not reached."""
        try:
            await self.process([record for _, records in batches for record in records])
        except Unfinished as failure:  # everything before that record is finished, nothing after it
            stopped = TopicPartition(failure.record.topic, failure.record.partition)
            finished: dict[TopicPartition, int] = {}
            reached = False
            for partition, records in batches:
                if partition == stopped:
                    reached = True
                    if failure.record.offset > records[0].offset:
                        finished[partition] = failure.record.offset
                    self._back_off(partition, failure.record.offset, failure)
                elif reached:
                    self._read_again(partition, records[0].offset)
                else:
                    finished[partition] = records[-1].offset + 1
                    self._failures.pop(partition, None)
            self._commit(finished)
            return
        except Exception as error:
            for partition, records in batches:
                self._back_off(partition, records[0].offset, error)
            return
        for partition, _ in batches:
            self._failures.pop(partition, None)
        self._commit({partition: records[-1].offset + 1 for partition, records in batches})

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit `offsets` in the background: the loop goes on with the next fetch meanwhile."""
        for partition, offset in offsets.items():
            self._to_commit[partition] = max(offset, self._to_commit.get(partition, offset))
        if self._to_commit and (self._committer is None or self._committer.done()):
            self._committer = asyncio.create_task(self._send_commits())

    async def _send_commits(self) -> None:
        """One request at a time, so that an earlier commit never lands after a later one."""
        while self._to_commit:
            offsets, self._to_commit = self._to_commit, {}
            try:
                await self.consumer.commit(offsets)
            except Exception as error:
                # E.g. revoked by a rebalance: its next owner reads them again, and the inbox de-dups.
                log.warning("cannot commit %s: %s", offsets, error)

    async def commits_sent(self) -> None:
        """Wait until the offsets of every applied record are committed (or failed to be), at most
        LAST_COMMIT_S: a broker that does not answer (the commit is retried meanwhile) does not hold up a
        rebalance or a shutdown for longer; what is not committed then is read again, and de-duplicated."""
        committer = self._committer
        if committer is None or committer.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(committer), LAST_COMMIT_S)
        except TimeoutError:
            log.warning(
                "offsets not committed within %ss: records after the committed ones are read again",
                LAST_COMMIT_S,
            )
            committer.cancel()

    def _read_again(self, partition: TopicPartition, offset: int) -> None:
        """A partition whose records were not reached: fetched again from `offset`, at once."""
        if partition in self.consumer.assignment():
            self.consumer.seek(partition, offset)

    def _back_off(self, partition: TopicPartition, offset: int, error: BaseException) -> None:
        failures = self._failures.get(partition, 0) + 1
        self._failures[partition] = failures
        delay = self.backoff.delay(failures)
        log.log(
            logging.WARNING if isinstance(error, Unfinished) else logging.ERROR,
            "%s[%s] stopped at offset %s (%s: %s); retrying it in %.1fs",
            partition.topic,
            partition.partition,
            offset,
            type(error).__name__,
            error,
            delay,
            exc_info=not isinstance(error, Unfinished),
        )
        if partition not in self.consumer.assignment():
            return  # revoked meanwhile: its new owner starts from the committed offset
        self.consumer.seek(partition, offset)
        self.consumer.pause(partition)
        self._paused_until[partition] = time.monotonic() + delay

    def _resume_due(self) -> None:
        now = time.monotonic()
        assigned = self.consumer.assignment()
        for partition, until in list(self._paused_until.items()):
            if until <= now:
                del self._paused_until[partition]
                if partition in assigned:
                    self.consumer.resume(partition)

    def _poll_ms(self) -> int:
        if not self._paused_until:
            return _IDLE_POLL_MS
        soonest = min(self._paused_until.values()) - time.monotonic()
        return max(1, min(_IDLE_POLL_MS, int(soonest * 1000) + 1))

    async def _fetch_failed(self, error: Exception) -> None:
        """A fetch raised (after the lenient reader, only a corrupt batch or the broker): wait, then read
        again from the committed offsets, as records it had taken from other partitions were lost with it."""
        self._fetch_failures += 1
        delay = self.backoff.delay(self._fetch_failures)
        log.error("fetch failed (%s: %s); retrying in %.1fs", type(error).__name__, error, delay)
        await asyncio.sleep(delay)
        await self.commits_sent()  # else the rewind would go back to before them
        try:
            for partition in self.consumer.assignment():
                committed = await self.consumer.committed(partition)
                if committed is None:
                    await self.consumer.seek_to_beginning(partition)  # as auto_offset_reset="earliest"
                else:
                    self.consumer.seek(partition, committed)
        except Exception as rewind_error:
            log.warning("cannot rewind to the committed offsets: %s", rewind_error)

    def forget(self, partitions: Sequence[TopicPartition]) -> None:
        for partition in partitions:
            self._failures.pop(partition, None)
            self._paused_until.pop(partition, None)


class _ForgetRevoked(ConsumerRebalanceListener):  # type: ignore[misc]
    """Back-off state belongs to this member's assignment; a partition revoked is someone else's now."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # What was applied is committed while this member still owns it: its next owner starts after it.
        await self.subscription.commits_sent()
        self.subscription.forget(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        pass
