"""The consume loop's bookkeeping over a fetch of several partitions, on a fake consumer: one call of the
processor for the whole fetch, one offset commit (sent while the next fetch is applied), and when a record
cannot finish, its partition backs off from it while the partitions before it are committed and those
after it are read again at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from dossierbus_devstack.records import consumer_record
from dossierbus_shared import subscription as subscription_module
from dossierbus_shared.consumer import DependencyUnavailable
from dossierbus_shared.settings import ServiceSettings
from dossierbus_shared.subscription import Subscription

FIRST, STOPPED, LATER = (TopicPartition("dossier.submitted", index) for index in range(3))


def record(partition: TopicPartition, offset: int) -> ConsumerRecord[bytes, bytes]:
    return consumer_record(partition.topic, b"{}", key=b"k", partition=partition.partition, offset=offset)


class FakeConsumer:
    """Answers one fetch, then stops the loop; keeps what the loop asked of it."""

    def __init__(self, fetch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        self.fetch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] | None = fetch
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.paused: set[TopicPartition] = set()

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        if self.fetch is None:
            raise asyncio.CancelledError
        fetch, self.fetch = self.fetch, None
        return fetch

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))

    def pause(self, partition: TopicPartition) -> None:
        self.paused.add(partition)

    def resume(self, partition: TopicPartition) -> None:
        self.paused.discard(partition)

    def assignment(self) -> set[TopicPartition]:
        return {FIRST, STOPPED, LATER}


FETCH = {
    FIRST: [record(FIRST, 10), record(FIRST, 11)],
    STOPPED: [record(STOPPED, 20), record(STOPPED, 21), record(STOPPED, 22)],
    LATER: [record(LATER, 30)],
}


async def consume_once(fail_at: ConsumerRecord[bytes, bytes] | None) -> tuple[FakeConsumer, list[int]]:
    """Run the loop over FETCH; the processor stops at `fail_at` as a dependency away would."""
    seen: list[int] = []

    async def process(records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        for each in records:
            if each is fail_at:
                raise DependencyUnavailable(each, ConnectionRefusedError("the registry is away"))
            seen.append(each.offset)

    fake = FakeConsumer(FETCH)
    subscription = Subscription(ServiceSettings(service_name="t"), process, topics=["dossier.submitted"])
    subscription._consumer = fake
    with pytest.raises(asyncio.CancelledError):
        await subscription.run()
    await subscription.commits_sent()
    return fake, seen


async def test_a_fetch_is_processed_in_one_call_and_committed_in_one_request() -> None:
    fake, seen = await consume_once(fail_at=None)
    assert seen == [10, 11, 20, 21, 22, 30]
    assert fake.commits == [{FIRST: 12, STOPPED: 23, LATER: 31}]
    assert not fake.seeks and not fake.paused


async def test_a_record_that_cannot_finish_backs_off_its_partition_and_the_rest_is_read_again() -> None:
    fake, seen = await consume_once(fail_at=FETCH[STOPPED][1])
    assert seen == [10, 11, 20]
    assert fake.commits == [{FIRST: 12, STOPPED: 21}], "what finished, in one request"
    assert fake.seeks == [(STOPPED, 21), (LATER, 30)]
    assert fake.paused == {STOPPED}, "only the partition that could not finish waits"


class TricklingConsumer(FakeConsumer):
    """Brings one record per fetch, 20 ms apart; nothing once they are all out."""

    def __init__(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        super().__init__({})
        self.trickle = records

    async def getmany(
        self, *, timeout_ms: int, **_: Any
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        if not self.trickle:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        await asyncio.sleep(0.02)
        each = self.trickle.pop(0)
        return {TopicPartition(each.topic, each.partition): [each]}


@pytest.mark.parametrize(("linger_ms", "batches"), [(0, [[10], [11], [30], [12]]), (300, [[10, 11, 12, 30]])])
async def test_a_linger_gathers_a_trickle_into_one_batch_in_partition_order(
    linger_ms: int, batches: list[list[int]]
) -> None:
    processed: list[list[int]] = []

    async def process(records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        processed.append([each.offset for each in records])
        if sum(map(len, processed)) == 4:
            raise asyncio.CancelledError  # all applied: stop the loop

    fake = TricklingConsumer([record(FIRST, 10), record(FIRST, 11), record(LATER, 30), record(FIRST, 12)])
    settings = ServiceSettings(service_name="t", consumer_linger_ms=linger_ms, consumer_batch_size=10)
    subscription = Subscription(settings, process, topics=["dossier.submitted"])
    subscription._consumer = fake
    with pytest.raises(asyncio.CancelledError):
        await subscription.run()
    assert processed == batches


class SlowCommits(FakeConsumer):
    """Answers three fetches of one record each; a commit is answered only once `answer` is set."""

    def __init__(self) -> None:
        super().__init__({})
        self.fetches = [{FIRST: [record(FIRST, offset)]} for offset in (10, 11, 12)]
        self.answer = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        await asyncio.sleep(0)  # as a real fetch, lets the commit under way go on
        if not self.fetches:
            raise asyncio.CancelledError
        return self.fetches.pop(0)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await self.answer.wait()
        self.in_flight -= 1
        await super().commit(offsets)


async def test_the_next_fetch_is_applied_while_a_commit_is_under_way_and_commits_go_one_at_a_time() -> None:
    seen: list[int] = []

    async def process(records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        seen.extend(each.offset for each in records)

    fake = SlowCommits()
    subscription = Subscription(ServiceSettings(service_name="t"), process, topics=["dossier.submitted"])
    subscription._consumer = fake
    with pytest.raises(asyncio.CancelledError):
        await subscription.run()
    assert seen == [10, 11, 12], "all applied though no commit was answered"
    assert fake.commits == []
    fake.answer.set()
    await subscription.commits_sent()
    assert fake.commits == [{FIRST: 11}, {FIRST: 13}], "the two that waited, merged into one request"
    assert fake.most_in_flight == 1


async def test_a_commit_the_broker_does_not_answer_holds_up_a_stop_only_so_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(subscription_module, "LAST_COMMIT_S", 0.05)

    async def process(records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        pass

    fake = SlowCommits()  # never answered
    subscription = Subscription(ServiceSettings(service_name="t"), process, topics=["dossier.submitted"])
    subscription._consumer = fake
    with pytest.raises(asyncio.CancelledError):
        await subscription.run()
    await asyncio.wait_for(subscription.commits_sent(), 1)
    assert fake.commits == []
    assert subscription._committer is not None
    await asyncio.sleep(0)  # the cancellation takes effect
    assert subscription._committer.cancelled()
