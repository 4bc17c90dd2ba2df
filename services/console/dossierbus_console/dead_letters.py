"""Dead letters as the console shows them, read and replayed with the shared DLQ code."""

from __future__ import annotations

import heapq
from typing import Any

from dossierbus_shared.dlq import DeadLetter
from dossierbus_shared.dlq.replay import read_dead_letters, replay
from dossierbus_shared.envelope import header_map
from dossierbus_shared.http_errors import ProblemError
from dossierbus_shared.kafka import PLAINTEXT, KafkaSecurity


def letter_view(letter: DeadLetter) -> dict[str, Any]:
    """Where a letter came from and why it failed; never its payload, which may hold personal data."""
    failure = letter.failure
    headers = header_map(letter.headers)
    return {
        "partition": letter.partition,
        "offset": letter.offset,
        "event_id": letter.event_id,
        "event_type": headers.get("ce_type"),
        "subject": headers.get("ce_subject"),
        "reason": failure.get("reason"),
        "error_type": failure.get("error_type"),
        "original_topic": letter.original_topic,
        "original_partition": _int(failure.get("original_partition")),
        "original_offset": _int(failure.get("original_offset")),
        "consumer_group": failure.get("consumer_group"),
        "attempts": _int(failure.get("attempts")),
        "failed_at": failure.get("failed_at"),
        "size": _int(failure.get("value_size")) if letter.by_reference else len(letter.value or b""),
        # Too large to copy: the letter says where the original is, and cannot be replayed.
        "by_reference": letter.by_reference,
    }


async def newest_letters(
    bootstrap_servers: str, topic: str, limit: int, security: KafkaSecurity = PLAINTEXT
) -> tuple[list[dict[str, Any]], int]:
    """The `limit` most recently failed letters of a DLQ topic, newest first, and how many it holds.

    Raises ValueError for a topic that is not a DLQ or does not exist.
    """
    newest: list[tuple[tuple[str, int, int], dict[str, Any]]] = []  # a min-heap of the newest `limit`
    total = 0
    async for letter, _ in read_dead_letters(bootstrap_servers, topic, security=security):
        view = letter_view(letter)
        entry = (_failed_at(view), view)
        if len(newest) < limit:
            heapq.heappush(newest, entry)
        else:
            heapq.heappushpop(newest, entry)
        total += 1
    return [view for _, view in sorted(newest, key=lambda entry: entry[0], reverse=True)], total


async def replay_event(
    bootstrap_servers: str, topic: str, event_id: str, security: KafkaSecurity = PLAINTEXT
) -> list[dict[str, Any]]:
    """Send the letters of one event back to their original topic; what was replayed. A letter by
    reference cannot be: 409, saying where its original is."""
    outcome = await replay(bootstrap_servers, topic, event_ids={event_id}, security=security)
    if outcome.by_reference and not outcome.replayed:
        letter = letter_view(outcome.by_reference[0])
        raise ProblemError(
            409,
            "Dead letter by reference",
            f"the letter holds no value (too large to copy); its original is "
            f"{letter['original_topic']}[{letter['original_partition']}]@{letter['original_offset']}: "
            "save it with `dossierbus-dlq original` and republish it by hand if it is to be processed",
        )
    return [letter_view(letter) for letter in outcome.replayed]


def _failed_at(view: dict[str, Any]) -> tuple[str, int, int]:
    return (view["failed_at"] or "", view["partition"], view["offset"])


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
