"""The access log's rules: one entry per read of a subject's data, chained per subject under a secret key.

Each entry's hash is an HMAC-SHA256, under ACCESS_LOG_KEY, of its content, its sequence number and the
previous entry's hash; the subject's head (its last sequence number and hash) is HMAC-ed too and rewritten
with every append. The key is not in the database, so whoever can write the tables (with the append-only
trigger disabled) can change, remove or truncate entries but cannot make the chain and its head agree
again: `verify_chain` finds the first break, a missing entry, or missing last entries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import SecretStr

GENESIS = "0" * 64
MIN_KEY_BYTES = 32
Outcome = Literal["granted", "refused"]
Row = Mapping[Any, Any]


@dataclass(frozen=True)
class Access:
    """What one lookup asked for, on whose behalf and why, and what it was given."""

    subject: str
    agency_code: str
    procedure_code: str
    dossier_code: str | None
    consent_id: str | None
    fields: Sequence[str]
    outcome: Outcome
    reason: str | None = None


class MissingKey(RuntimeError):
    pass


@dataclass(frozen=True)
class ChainKey:
    """The secret the chain is keyed with; `id` names it in every entry without revealing it.
    None: not configured (the registry then refuses to start, and nothing can be written or checked)."""

    secret: bytes | None

    def __post_init__(self) -> None:
        if self.secret is not None and len(self.secret) < MIN_KEY_BYTES:
            raise ValueError(f"ACCESS_LOG_KEY must be at least {MIN_KEY_BYTES} bytes")

    @classmethod
    def from_setting(cls, setting: SecretStr | None) -> ChainKey:
        return cls(setting.get_secret_value().encode() if setting else None)

    @property
    def id(self) -> str:
        return self.mac("dossierbus-access-log-key-id")[:16]

    def mac(self, message: str) -> str:
        if self.secret is None:
            raise MissingKey("ACCESS_LOG_KEY is not set: the access log can be neither written nor checked")
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()


def _canonical(content: Sequence[Any]) -> str:
    return json.dumps(list(content), ensure_ascii=False, separators=(",", ":"))


def entry_hash(prev_hash: str, seq: int, at: datetime, access: Access, key: ChainKey | None) -> str:
    """HMAC under `key`; plain SHA-256 only to check entries written before the log was keyed."""
    content = _canonical(
        [
            prev_hash,
            access.subject,
            seq,
            at.astimezone(UTC).isoformat(),
            access.agency_code,
            access.procedure_code,
            access.dossier_code,
            access.consent_id,
            sorted(access.fields),
            access.outcome,
            access.reason,
        ]
    )
    return key.mac(content) if key else hashlib.sha256(content.encode()).hexdigest()


def head_mac(key: ChainKey, subject: str, seq: int, last_hash: str) -> str:
    return key.mac(_canonical(["head", subject, seq, last_hash]))


@dataclass(frozen=True)
class Entry:
    """An entry as it is written: the access, where it sits in its subject's chain, and its hash."""

    access: Access
    seq: int
    at: datetime
    prev_hash: str
    hash: str
    key_id: str


@dataclass
class Chain:
    """A subject's chain: where it ends, and the entries appended to it since it was read."""

    subject: str
    seq: int = 0
    last_hash: str = GENESIS
    appended: list[Entry] = field(default_factory=list)

    def append(self, access: Access, at: datetime, key: ChainKey) -> Entry:
        if access.subject != self.subject:
            raise ValueError(f"an access to {access.subject} does not belong in the chain of {self.subject}")
        seq = self.seq + 1
        digest = entry_hash(self.last_hash, seq, at, access, key)
        entry = Entry(access, seq, at, self.last_hash, digest, key.id)
        self.appended.append(entry)
        self.seq, self.last_hash = seq, digest
        return entry

    def head_mac(self, key: ChainKey) -> str:
        """The keyed head that vouches for where the chain ends."""
        return head_mac(key, self.subject, self.seq, self.last_hash)


@dataclass(frozen=True)
class ChainCheck:
    intact: bool
    entries: int
    first_broken_seq: int | None = None
    problem: str | None = None


def verify_chain(rows: Iterable[Row], head: Row | None, key: ChainKey) -> ChainCheck:
    """Check a subject's entries (in `seq` order) and its head; `entries`: how many are sound."""
    prev_hash, expected_seq, checked, keyed = GENESIS, 1, 0, False
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            return ChainCheck(False, checked, expected_seq, f"entry {expected_seq} is missing")
        if row["prev_hash"] != prev_hash:
            return ChainCheck(False, checked, seq, f"entry {seq} does not follow entry {seq - 1}")
        if row["key_id"] is None and keyed:
            return ChainCheck(False, checked, seq, f"entry {seq} is not keyed, yet follows keyed entries")
        if row["key_id"] is not None and row["key_id"] != key.id:
            problem = f"entry {seq} was written under another key ({row['key_id']})"
            return ChainCheck(False, checked, seq, problem)
        keyed = row["key_id"] is not None
        if entry_hash(prev_hash, seq, row["at"], _access(row), key if keyed else None) != row["hash"]:
            return ChainCheck(False, checked, seq, f"entry {seq} was changed after it was written")
        prev_hash, expected_seq, checked = row["hash"], seq + 1, checked + 1
    return _check_head(head, checked, prev_hash, key)


def _check_head(head: Row | None, last_seq: int, last_hash: str, key: ChainKey) -> ChainCheck:
    if head is None:
        if last_seq == 0:
            return ChainCheck(True, 0)
        return ChainCheck(False, last_seq, None, "the chain has no head: its end cannot be vouched for")
    subject = head["subject"]
    if head["key_id"] != key.id or head["mac"] != head_mac(key, subject, head["seq"], head["hash"]):
        return ChainCheck(False, last_seq, None, "the chain's head was altered")
    if head["seq"] > last_seq:
        first = last_seq + 1
        gone = f"entry {first}" if first == head["seq"] else f"entries {first} to {head['seq']}"
        return ChainCheck(False, last_seq, first, f"{gone} removed from the end of the chain")
    if head["seq"] < last_seq:
        seq = head["seq"] + 1
        return ChainCheck(False, head["seq"], seq, f"entries from {seq} on were added without the key")
    if head["hash"] != last_hash:
        problem = f"entry {last_seq} is not the one the chain's head vouches for: the chain was rewritten"
        return ChainCheck(False, 0, None, problem)
    return ChainCheck(True, last_seq)


def _access(row: Row) -> Access:
    return Access(
        subject=row["subject"],
        agency_code=row["agency_code"],
        procedure_code=row["procedure_code"],
        dossier_code=row["dossier_code"],
        consent_id=row["consent_id"],
        fields=list(row["fields"]),
        outcome=row["outcome"],
        reason=row["reason"],
    )
