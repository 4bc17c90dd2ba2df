"""The access log's hash chain: any change, removal or reordering is found, and where."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dossierbus_registry.access_log import GENESIS, Access, entry_hash, verify_chain

START = datetime(2026, 11, 25, 2, tzinfo=UTC)


def chain(length: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    prev = GENESIS
    for seq in range(1, length + 1):
        access = Access(
            "001085123456", "justice-hanoi", "1.001193", f"D{seq}", None, ["full_name"], "granted"
        )
        at = START + timedelta(minutes=seq)
        digest = entry_hash(prev, seq, at, access)
        rows.append(
            {
                "seq": seq,
                "at": at,
                "subject": access.subject,
                "agency_code": access.agency_code,
                "procedure_code": access.procedure_code,
                "dossier_code": access.dossier_code,
                "consent_id": None,
                "fields": ["full_name"],
                "outcome": "granted",
                "reason": None,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows


def test_an_untouched_chain_is_intact() -> None:
    check = verify_chain(chain(5))
    assert (check.intact, check.entries) == (True, 5)
    assert verify_chain([]).intact


def test_a_changed_entry_is_found() -> None:
    rows = chain(5)
    rows[2]["fields"] = ["full_name", "permanent_address"]
    check = verify_chain(rows)
    assert (check.intact, check.first_broken_seq, check.entries) == (False, 3, 2)
    assert check.problem == "entry 3 was changed after it was written"


def test_a_removed_entry_is_found() -> None:
    rows = chain(5)
    del rows[1]
    check = verify_chain(rows)
    assert (check.intact, check.first_broken_seq) == (False, 2)
    assert check.problem == "entry 2 is missing"


def test_a_rewritten_entry_with_a_recomputed_hash_breaks_the_next_link() -> None:
    rows = chain(3)
    forged = Access("001085123456", "police-hanoi", "1.001193", "D2", None, ["full_name"], "granted")
    rows[1] |= {
        "agency_code": "police-hanoi",
        "hash": entry_hash(rows[1]["prev_hash"], 2, rows[1]["at"], forged),
    }
    check = verify_chain(rows)
    assert (check.intact, check.first_broken_seq) == (False, 3)
    assert check.problem == "entry 3 does not follow entry 2"


def test_the_hash_does_not_depend_on_field_order_or_time_zone() -> None:
    first = Access("s", "a", "p", None, None, ["b", "a"], "granted")
    second = Access("s", "a", "p", None, None, ["a", "b"], "granted")
    hanoi = START.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert entry_hash(GENESIS, 1, START, first) == entry_hash(GENESIS, 1, hanoi, second)
