"""The queue figures from the broker's raw offsets: never a committed offset past the end, never a
negative lag, whatever order or inconsistency the separate answers of the broker come in."""

from __future__ import annotations

from aiokafka import TopicPartition

from dossierbus_console.queues import figures

P0, P1 = TopicPartition("dossier.verified", 0), TopicPartition("dossier.verified", 1)


def test_a_committed_offset_above_the_end_offset_counts_as_caught_up() -> None:
    # Seen: a group committed between the end-offsets request and the group-offsets request.
    snapshot = figures([P0, P1], {P0: 0, P1: 0}, {P0: 10, P1: 4}, {"routing": {P0: 12, P1: 4}})
    (lag,) = snapshot.lags
    assert (lag.committed, lag.end_offset, lag.lag) == (14, 14, 0)
    assert lag.committed <= lag.end_offset


def test_lag_is_the_sum_of_what_is_left_on_each_partition() -> None:
    # One partition past its end must not hide the lag of the other.
    snapshot = figures([P0, P1], {P0: 0, P1: 0}, {P0: 10, P1: 10}, {"routing": {P0: 15, P1: 4}})
    assert snapshot.lags[0].lag == 6


def test_uncommitted_partitions_lag_by_what_is_still_held() -> None:
    snapshot = figures([P0, P1], {P0: 3, P1: 0}, {P0: 10, P1: 5}, {"routing": {P0: -1, P1: 2}})
    (lag,) = snapshot.lags
    assert (lag.committed, lag.end_offset, lag.lag) == (5, 15, 10)


def test_a_group_that_committed_nothing_on_a_topic_does_not_follow_it() -> None:
    snapshot = figures([P0], {P0: 0}, {P0: 10}, {"routing": {P0: -1}, "other": {}})
    assert snapshot.lags == []
    assert snapshot.topics[0].records == 10


def test_a_beginning_above_the_end_holds_no_records() -> None:
    snapshot = figures([P0], {P0: 12}, {P0: 10}, {"routing": {P0: 11}})
    assert snapshot.topics[0].records == 0
    assert snapshot.lags[0].lag == 0


def test_a_partition_without_an_end_offset_is_left_out() -> None:
    snapshot = figures([P0, P1], {P0: 0, P1: 0}, {P0: 10}, {"routing": {P0: 10, P1: 99}})
    assert snapshot.topics[0].partitions == 1
    assert (snapshot.lags[0].committed, snapshot.lags[0].lag) == (10, 0)
