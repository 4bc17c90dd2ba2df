"""`eventually` returns what holds; what never holds fails with its last failure; other errors at once."""

from __future__ import annotations

import asyncio

import pytest

from dossierbus_devstack.eventually import eventually


async def test_a_condition_is_polled_until_it_holds() -> None:
    calls: list[int] = []

    def third_call() -> bool:
        calls.append(1)
        return len(calls) == 3

    assert await eventually(third_call, interval_s=0) is True
    assert len(calls) == 3


async def test_a_check_that_asserts_returns_what_it_found() -> None:
    seen: list[str] = []

    async def both_letters() -> list[str]:
        seen.append("letter")
        assert len(seen) >= 2, f"found {seen}"
        return seen

    assert await eventually(both_letters, interval_s=0) == ["letter", "letter"]


async def test_a_check_whose_assertions_pass_holds_returning_nothing() -> None:
    calls: list[int] = []

    def nothing_to_assert() -> None:
        calls.append(1)

    await eventually(nothing_to_assert)
    assert calls == [1]


async def test_the_last_assertion_is_the_error_when_it_never_holds() -> None:
    count = 0

    def never() -> None:
        nonlocal count
        count += 1
        assert count < 0, f"try {count}"

    with pytest.raises(
        AssertionError,
        match=r"never \(test_eventually.py:\d+\) did not hold within 0.2 s \(AssertionError: try \d",
    ) as failed:
        await eventually(never, timeout_s=0.2, interval_s=0.01)
    assert isinstance(failed.value.__cause__, AssertionError)
    assert str(failed.value.__cause__).startswith(f"try {count}")
    assert count > 1


async def test_a_condition_that_stays_false_says_so() -> None:
    with pytest.raises(AssertionError, match=r"<lambda> .* did not hold within 0.05 s \(it returned False\)"):
        await eventually(lambda: False, timeout_s=0.05, interval_s=0.01)


async def test_a_check_that_hangs_is_cut_at_the_bound() -> None:
    async def hangs() -> None:
        await asyncio.Event().wait()

    with pytest.raises(AssertionError, match=r"did not hold within 0\.05 s \(no call of it finished\)"):
        await eventually(hangs, timeout_s=0.05)


async def test_other_errors_are_raised_at_once_unless_ignored() -> None:
    calls = 0

    def refused_then_up() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionRefusedError("still starting")
        return calls

    with pytest.raises(ConnectionRefusedError):
        await eventually(refused_then_up)
    calls = 0
    assert await eventually(refused_then_up, ignoring=(ConnectionError,), interval_s=0) == 2


async def test_a_timeout_of_the_check_itself_is_not_taken_for_the_bound() -> None:
    def times_out() -> None:
        raise TimeoutError("the check's own")

    with pytest.raises(TimeoutError, match="the check's own"):
        await eventually(times_out, timeout_s=5)
