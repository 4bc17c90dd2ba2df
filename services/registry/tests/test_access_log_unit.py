"""The access log's keyed chain: any change, removal, reordering or truncation is found, and where; and
without the key a changed entry cannot be made to fit again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dossierbus_registry.domain.access_log import (
    GENESIS,
    Access,
    ChainKey,
    MissingKey,
    entry_hash,
    head_mac,
    verify_chain,
)

START = datetime(2026, 11, 25, 2, tzinfo=UTC)
KEY = ChainKey(b"k" * 32)
SUBJECT = "001085123456"


def access(seq: int, agency: str = "justice-hanoi") -> Access:
    return Access(SUBJECT, agency, "1.001193", f"D{seq}", None, ["full_name"], "granted")


def row(seq: int, prev: str, key: ChainKey | None, agency: str = "justice-hanoi") -> dict[str, Any]:
    at = START + timedelta(minutes=seq)
    return {
        "seq": seq,
        "at": at,
        "subject": SUBJECT,
        "agency_code": agency,
        "procedure_code": "1.001193",
        "dossier_code": f"D{seq}",
        "consent_id": None,
        "fields": ["full_name"],
        "outcome": "granted",
        "reason": None,
        "prev_hash": prev,
        "hash": entry_hash(prev, seq, at, access(seq, agency), key),
        "key_id": key.id if key else None,
    }


def chain(length: int, *, unkeyed: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`length` entries, the first `unkeyed` of them written before the log was keyed, and the head."""
    rows: list[dict[str, Any]] = []
    prev = GENESIS
    for seq in range(1, length + 1):
        rows.append(row(seq, prev, None if seq <= unkeyed else KEY))
        prev = rows[-1]["hash"]
    return rows, head(length, prev)


def head(seq: int, last_hash: str, key: ChainKey = KEY) -> dict[str, Any]:
    return {
        "subject": SUBJECT,
        "seq": seq,
        "hash": last_hash,
        "key_id": key.id,
        "mac": head_mac(key, SUBJECT, seq, last_hash),
    }


def test_an_untouched_chain_is_intact() -> None:
    rows, last = chain(5)
    check = verify_chain(rows, last, KEY)
    assert (check.intact, check.entries) == (True, 5)
    assert verify_chain([], None, KEY).intact


def test_a_changed_entry_is_found() -> None:
    rows, last = chain(5)
    rows[2]["fields"] = ["full_name", "permanent_address"]
    check = verify_chain(rows, last, KEY)
    assert (check.intact, check.first_broken_seq, check.entries) == (False, 3, 2)
    assert check.problem == "entry 3 was changed after it was written"


def test_a_removed_entry_is_found() -> None:
    rows, last = chain(5)
    del rows[1]
    check = verify_chain(rows, last, KEY)
    assert (check.intact, check.first_broken_seq) == (False, 2)
    assert check.problem == "entry 2 is missing"


def test_a_rewritten_chain_cannot_be_made_to_fit_without_the_key() -> None:
    """Whoever holds the database but not the key recomputes with a key of their own: found at once."""
    rows, _ = chain(3)
    guess = ChainKey(b"g" * 32)
    forged = [row(1, GENESIS, guess)]
    forged[0]["key_id"] = KEY.id
    check = verify_chain([*forged, *rows[1:]], None, KEY)
    assert (check.intact, check.first_broken_seq) == (False, 1)
    assert check.problem == "entry 1 was changed after it was written"


def test_entries_removed_from_the_end_are_found_by_the_head() -> None:
    rows, last = chain(5)
    check = verify_chain(rows[:3], last, KEY)
    assert (check.intact, check.first_broken_seq, check.entries) == (False, 4, 3)
    assert check.problem == "entries 4 to 5 removed from the end of the chain"
    gone = verify_chain([], last, KEY)
    assert (gone.intact, gone.problem) == (False, "entries 1 to 5 removed from the end of the chain")


def test_a_head_moved_back_with_the_chain_is_found() -> None:
    rows, last = chain(5)
    moved = dict(last, seq=3, hash=rows[2]["hash"])  # without the key its MAC cannot be remade
    check = verify_chain(rows[:3], moved, KEY)
    assert (check.intact, check.problem) == (False, "the chain's head was altered")
    assert verify_chain(rows, None, KEY).problem == "the chain has no head: its end cannot be vouched for"


def test_entries_written_before_the_log_was_keyed_still_check_and_cannot_follow_keyed_ones() -> None:
    rows, last = chain(4, unkeyed=2)
    assert verify_chain(rows, last, KEY).intact
    downgraded = [row(1, GENESIS, KEY), row(2, "", None)]
    downgraded[1] = row(2, downgraded[0]["hash"], None)
    check = verify_chain(downgraded, head(2, downgraded[1]["hash"]), KEY)
    assert (check.intact, check.first_broken_seq) == (False, 2)
    assert check.problem == "entry 2 is not keyed, yet follows keyed entries"


def test_an_entry_under_another_key_is_named_as_such() -> None:
    rows, last = chain(2)
    check = verify_chain(rows, last, ChainKey(b"o" * 32))
    assert check.problem == f"entry 1 was written under another key ({KEY.id})"


def test_the_hash_does_not_depend_on_field_order_or_time_zone() -> None:
    first = Access("s", "a", "p", None, None, ["b", "a"], "granted")
    second = Access("s", "a", "p", None, None, ["a", "b"], "granted")
    hanoi = START.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert entry_hash(GENESIS, 1, START, first, KEY) == entry_hash(GENESIS, 1, hanoi, second, KEY)


def test_the_key_is_long_and_needed() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        ChainKey(b"short")
    with pytest.raises(MissingKey):
        ChainKey(None).mac("anything")


def test_a_chain_rehashed_without_the_key_is_found_by_its_head() -> None:
    rows, last = chain(3)
    rehashed, prev = [], GENESIS
    for seq in range(1, 4):
        rehashed.append(row(seq, prev, None, agency="police-hanoi" if seq == 2 else "justice-hanoi"))
        prev = rehashed[-1]["hash"]
    check = verify_chain(rehashed, last, KEY)
    assert (check.intact, check.entries) == (False, 0)
    assert check.problem == "entry 3 is not the one the chain's head vouches for: the chain was rewritten"
    added = verify_chain([*rows, row(4, rows[-1]["hash"], KEY)], last, KEY)
    assert (added.intact, added.problem) == (False, "entries from 4 on were added without the key")
