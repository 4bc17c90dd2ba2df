"""The dispatcher's group commit: lanes that ask to write while another lane's write is under way share
the next transaction, and each learns what that transaction wrote."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from typing import Any, cast

import pytest

from dossierbus_notifications.delivery import GroupCommit
from dossierbus_notifications.domain.notification import Notification


class Note:
    def __init__(self, id: int) -> None:
        self.id = id


def notes(*ids: int) -> list[Notification]:
    return [cast(Notification, Note(id)) for id in ids]


class Transactions:
    """A fake writer that holds each transaction until released, and refuses the ids it is told to."""

    def __init__(self, refused: Collection[int] = (), failing: bool = False) -> None:
        self.written: list[list[int]] = []
        self.release = asyncio.Event()
        self.refused = set(refused)
        self.failing = failing

    async def write(self, changed: Sequence[Notification]) -> set[int]:
        self.written.append([n.id for n in changed])
        await self.release.wait()
        if self.failing:
            raise ConnectionError("database away")
        return {n.id for n in changed} - self.refused


async def test_writes_asked_for_during_a_write_go_together_in_the_next() -> None:
    transactions = Transactions(refused={4})
    commits = GroupCommit(transactions.write)
    first = asyncio.create_task(commits.write(notes(1)))
    await asyncio.sleep(0)  # the first write is under way
    others = [asyncio.create_task(commits.write(notes(*ids))) for ids in ((2,), (3, 4), (5,))]
    await asyncio.sleep(0)
    transactions.release.set()
    results: list[Any] = await asyncio.gather(first, *others)
    assert transactions.written == [[1], [2, 3, 4, 5]]
    assert results[0] == {1}
    assert results[1:] == [{2, 3, 5}] * 3  # each lane looks for its own ids: 4 was not written


async def test_a_failed_transaction_fails_every_write_in_it_and_the_next_starts_afresh() -> None:
    transactions = Transactions(failing=True)
    commits = GroupCommit(transactions.write)
    first = asyncio.create_task(commits.write(notes(1)))
    await asyncio.sleep(0)
    second, third = (asyncio.create_task(commits.write(notes(id))) for id in (2, 3))
    await asyncio.sleep(0)
    transactions.release.set()
    for task in (first, second, third):
        with pytest.raises(ConnectionError):
            await task
    transactions.failing = False
    assert await commits.write(notes(6)) == {6}
    assert transactions.written == [[1], [2, 3], [6]]
