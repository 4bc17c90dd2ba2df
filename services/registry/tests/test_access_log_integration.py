"""The keyed access log on the running stack: append-only for everyone, and whoever edits the table anyway
(a database user who disables the trigger, recomputing every hash they can) is caught by
`dossierbus-registry access-log verify`: an edit, a deletion, a truncation, a whole chain removed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import birth_registration, submit
from dossierbus_devstack.stack import DevStack
from dossierbus_registry.adapters.access_log import seal_unkeyed_chains
from dossierbus_registry.domain.access_log import GENESIS, Access, ChainKey, entry_hash
from dossierbus_registry.synthetic import citizens
from dossierbus_shared.db import Database

pytestmark = pytest.mark.slow

PEOPLE = list(citizens(1000))


def verify(stack: DevStack, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "dossierbus-registry"), "access-log", "verify", *args]
    env = os.environ | {"DATABASE_URL": stack.database_url, "ACCESS_LOG_KEY": key or stack.access_log_key}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)


async def chain_of(stack: DevStack, http: object, index: int, length: int = 3) -> str:
    """A subject with `length` entries: the registry's verification of as many dossiers of theirs."""
    person = PEOPLE[index].personal_id
    for _ in range(length):
        await submit(http, stack, birth_registration(index))  # type: ignore[arg-type]
    async with stack.database() as db:

        async def logged() -> None:
            entries = await db.fetchval("SELECT count(*) FROM registry.access_log WHERE subject = $1", person)
            assert entries >= length, f"{person}: {entries} of {length} access-log entries"

        await eventually(logged)
    return person


async def tamper(stack: DevStack, *statements: tuple[str, object]) -> None:
    """Run SQL as a database user who disabled the append-only trigger would."""
    async with stack.database() as db, db.transaction():
        await db.execute("SET LOCAL session_replication_role = replica")
        for sql, subject in statements:
            await db.execute(sql, subject)


async def recompute_without_the_key(db: asyncpg.Connection, subject: str) -> None:
    """What an attacker without the key can do: rehash every entry (plain SHA-256) so links agree."""
    rows = await db.fetch("SELECT * FROM registry.access_log WHERE subject = $1 ORDER BY seq", subject)
    prev = GENESIS
    for row in rows:
        access = Access(
            row["subject"], row["agency_code"], row["procedure_code"], row["dossier_code"],
            row["consent_id"], list(row["fields"]), row["outcome"], row["reason"],
        )  # fmt: skip
        digest = entry_hash(prev, row["seq"], row["at"].astimezone(UTC), access, None)
        await db.execute(
            "UPDATE registry.access_log SET prev_hash = $1, hash = $2, key_id = NULL WHERE id = $3",
            prev, digest, row["id"],
        )  # fmt: skip
        prev = digest


async def test_the_table_refuses_change(stack: DevStack, http: object) -> None:
    person = await chain_of(stack, http, 50, length=1)
    async with stack.database() as db:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await db.execute("UPDATE registry.access_log SET agency_code = 'x' WHERE subject = $1", person)
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await db.execute("DELETE FROM registry.access_log WHERE subject = $1", person)
    checked = await asyncio.to_thread(verify, stack, "--subject", person)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 chains, 1 sound entries: intact" in checked.stdout


async def test_an_edit_is_found_even_with_every_hash_recomputed(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    person = await chain_of(stack, http, 51)
    url = stack.url("registry", f"/access-log/{person}")
    citizen = {"Authorization": f"Bearer {await stack.citizen_token(person)}"}
    assert (await http.get(url, headers=citizen)).json()["chain"]["intact"] is True
    edit = "UPDATE registry.access_log SET agency_code = 'police-hanoi' WHERE subject = $1 AND seq = 2"
    await tamper(stack, (edit, person))
    checked = await asyncio.to_thread(verify, stack, "--subject", person)
    assert checked.returncode == 1
    assert f"BROKEN {person}: entry 2 was changed after it was written" in checked.stdout
    # The citizen (and an auditor) see it too.
    for reader in (citizen, stack.headers("auditor")):
        chain = (await http.get(url, headers=reader)).json()["chain"]
        assert chain == {
            "intact": False,
            "entries": 1,
            "first_broken": 2,
            "problem": "entry 2 was changed after it was written",
        }
    # Rehashed without the key (as if written before the log was keyed): the keyed head gives it away.
    async with stack.database() as db, db.transaction():
        await db.execute("SET LOCAL session_replication_role = replica")
        await recompute_without_the_key(db, person)
    rehashed = await asyncio.to_thread(verify, stack, "--subject", person)
    assert rehashed.returncode == 1
    assert f"BROKEN {person}: entry 3 is not the one the chain's head vouches for" in rehashed.stdout


async def test_a_deleted_entry_is_found(stack: DevStack, http: object) -> None:
    person = await chain_of(stack, http, 52)
    await tamper(stack, ("DELETE FROM registry.access_log WHERE subject = $1 AND seq = 2", person))
    checked = await asyncio.to_thread(verify, stack, "--subject", person)
    assert checked.returncode == 1
    assert f"BROKEN {person}: entry 2 is missing" in checked.stdout


async def test_a_truncated_chain_is_found(stack: DevStack, http: object) -> None:
    person = await chain_of(stack, http, 53)
    await tamper(stack, ("DELETE FROM registry.access_log WHERE subject = $1 AND seq = 3", person))
    checked = await asyncio.to_thread(verify, stack, "--subject", person)
    assert checked.returncode == 1
    assert f"BROKEN {person}: entry 3 removed from the end of the chain" in checked.stdout
    # Moving the head back cannot be done without the key either.
    second = "(SELECT hash FROM registry.access_log WHERE subject = $1 AND seq = 2)"
    move_back = f"UPDATE registry.access_log_heads SET seq = 2, hash = {second} WHERE subject = $1"
    await tamper(stack, (move_back, person))
    again = await asyncio.to_thread(verify, stack, "--subject", person)
    assert f"BROKEN {person}: the chain's head was altered" in again.stdout


async def test_a_whole_chain_removed_with_its_head_is_found_by_the_anchor(
    stack: DevStack, http: object, tmp_path: Path
) -> None:
    person = await chain_of(stack, http, 54, length=2)
    anchor = tmp_path / "access-log.anchor.json"
    first = await asyncio.to_thread(verify, stack, "--anchor", str(anchor))
    assert anchor.exists(), first.stdout + first.stderr
    kept = json.loads(anchor.read_text())
    assert kept["entries"] >= 2
    await tamper(
        stack,
        ("DELETE FROM registry.access_log WHERE subject = $1", person),
        ("DELETE FROM registry.access_log_heads WHERE subject = $1", person),
    )
    second = await asyncio.to_thread(verify, stack, "--anchor", str(anchor))
    assert second.returncode == 1
    assert f"BROKEN anchor {anchor}: 2 of the {kept['entries']} entries anchored" in second.stdout
    assert json.loads(anchor.read_text()) == kept  # a broken anchor is not moved on


async def test_the_wrong_key_finds_nothing_sound(stack: DevStack, http: object) -> None:
    person = await chain_of(stack, http, 55, length=1)
    checked = await asyncio.to_thread(
        verify, stack, "--subject", person, key="another key of at least 32 bytes!"
    )
    assert checked.returncode == 1
    assert "was written under another key" in checked.stdout
    no_key = await asyncio.to_thread(verify, stack, "--subject", person, key="short")
    assert no_key.returncode == 2 and "at least 32 bytes" in no_key.stderr


async def test_chains_written_before_the_log_was_keyed_are_sealed_and_then_covered(stack: DevStack) -> None:
    subject = f"legacy-{uuid.uuid4().hex[:8]}"
    async with stack.database() as db:
        prev = GENESIS
        for seq in (1, 2):
            at = datetime.now(UTC)
            access = Access(subject, "justice-hanoi", "1.001193", f"D{seq}", None, ["full_name"], "granted")
            digest = entry_hash(prev, seq, at, access, None)
            await db.execute(
                """INSERT INTO registry.access_log (subject, seq, at, agency_code, procedure_code,
                       dossier_code, fields, outcome, prev_hash, hash)
                   VALUES ($1, $2, $3, 'justice-hanoi', '1.001193', $4, '{full_name}', 'granted', $5, $6)""",
                subject, seq, at, f"D{seq}", prev, digest,
            )  # fmt: skip
            prev = digest
    registry = Database(stack.database_url, "registry")
    try:
        assert await seal_unkeyed_chains(registry, ChainKey(stack.access_log_key.encode())) >= 1
    finally:
        await registry.dispose()
    sealed = await asyncio.to_thread(verify, stack, "--subject", subject)
    assert sealed.returncode == 0, sealed.stdout + sealed.stderr
    async with stack.database() as db, db.transaction():
        await db.execute("SET LOCAL session_replication_role = replica")
        await db.execute(
            "UPDATE registry.access_log SET agency_code = 'police-hanoi' WHERE subject = $1", subject
        )
        await recompute_without_the_key(db, subject)
    rewritten = await asyncio.to_thread(verify, stack, "--subject", subject)
    assert f"BROKEN {subject}: entry 2 is not the one the chain's head vouches for" in rewritten.stdout
