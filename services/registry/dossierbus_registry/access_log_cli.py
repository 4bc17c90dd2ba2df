"""`dossierbus-registry access-log verify`: check every chain of the access log (or one subject's), with
the key from ACCESS_LOG_KEY, reading the database of DATABASE_URL / DB_SCHEMA.

`--anchor FILE` also keeps, outside the database, how many entries the log held up to which row: the next
run finds entries removed since (even whole chains, heads included) and then moves the anchor on.
Exit status: 0 all intact, 1 something broken, 2 cannot check (no key, unreadable anchor).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from dossierbus_registry.domain.access_log import ChainKey

# The log, its tables and the database libraries are imported by the command that reads them: the other
# commands of dossierbus-registry (the agency ones talk HTTP) build their parser without them.


def add_commands(commands: Any) -> None:
    log = commands.add_parser("access-log", help="the keyed access log: verify its chains")
    actions = log.add_subparsers(dest="action", required=True)
    verify = actions.add_parser(
        "verify", help="find changed, removed and truncated entries (ACCESS_LOG_KEY, DATABASE_URL)"
    )
    verify.add_argument("--subject", help="only this personal ID or tax code")
    verify.add_argument(
        "--anchor", type=Path, help="JSON file kept between runs: finds entries removed since the last run"
    )


def run(args: argparse.Namespace) -> int:
    from dossierbus_registry.domain.access_log import ChainKey
    from dossierbus_registry.settings import RegistrySettings

    settings = RegistrySettings()
    try:
        key = ChainKey.from_setting(settings.access_log_key)
        kept = _read_anchor(args.anchor) if args.anchor else None
    except ValueError as error:
        print(f"dossierbus-registry: {error}", file=sys.stderr)
        return 2
    if key.secret is None:
        print(
            "dossierbus-registry: set ACCESS_LOG_KEY: the log cannot be checked without it", file=sys.stderr
        )
        return 2
    check = _verify(settings.database_url, settings.db_schema, key, args.subject, kept)
    broken, chains, entries, anchored = asyncio.run(check)
    if anchored is not None:
        if anchored.problem:
            broken += 1
            print(f"BROKEN anchor {args.anchor}: {anchored.problem}")
        else:
            args.anchor.write_text(json.dumps(anchored.next_anchor, indent=2) + "\n", encoding="utf-8")
    print(f"{chains} chains, {entries} sound entries: {'intact' if not broken else f'{broken} broken'}")
    return 1 if broken else 0


def _read_anchor(path: Path) -> dict[str, Any]:
    """The anchor the last run left ({} for the first run)."""
    if not path.exists():
        return {}
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        return {"entries": int(kept["entries"]), "last_id": int(kept["last_id"]), **kept}
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"unreadable anchor {path}: {error}") from None


@dataclass(frozen=True)
class _Anchored:
    problem: str | None
    next_anchor: dict[str, Any]


async def _verify(
    url: str, schema: str, key: ChainKey, subject: str | None, kept: dict[str, Any] | None
) -> tuple[int, int, int, _Anchored | None]:
    """(broken chains, chains, sound entries, anchor check) after printing each broken chain."""
    from dossierbus_registry.adapters import access_log
    from dossierbus_registry.domain.access_log import verify_chain
    from dossierbus_shared.db import Database, one_snapshot

    db = Database(url, schema)
    broken = chains = entries = 0
    try:
        async with db.transaction() as session:
            await one_snapshot(session)  # heads and entries as of one moment, whatever is appended meanwhile
            if subject is not None:
                last = await access_log.head(session, subject)
                rows = await access_log.entries(session, subject)
                results = [(subject, verify_chain(rows, last, key))]
            else:
                results = [result async for result in access_log.every_chain(session, key)]
            for name, check in results:
                chains += 1
                entries += check.entries
                if not check.intact:
                    broken += 1
                    print(f"BROKEN {name}: {check.problem}")
            anchored = await _check_anchor(session, key, kept) if kept is not None else None
    finally:
        await db.dispose()
    return broken, chains, entries, anchored


def _anchor_mac(key: ChainKey, entries: int, last_id: int) -> str:
    return key.mac(json.dumps(["anchor", entries, last_id]))


async def _check_anchor(session: AsyncSession, key: ChainKey, kept: dict[str, Any]) -> _Anchored:
    """Rows are never removed, so as many rows with an id up to the anchor's must still be there (a row
    that committed late, with a lower id, only makes more)."""
    from sqlalchemy import func, select

    from dossierbus_registry.adapters.tables import access_log as access_log_table

    problem = None
    if kept:
        entries, last_id = kept["entries"], kept["last_id"]
        if kept.get("mac") != _anchor_mac(key, entries, last_id):
            problem = "the anchor file was not written with this key"
        else:
            query = select(func.count()).where(access_log_table.c.id <= last_id)
            now_there = int(await session.scalar(query) or 0)
            if now_there < entries:
                written = kept.get("written_at")
                problem = f"{entries - now_there} of the {entries} entries anchored at {written} are gone"
    totals = select(func.count(), func.coalesce(func.max(access_log_table.c.id), 0))
    entries, last_id = (int(value) for value in (await session.execute(totals)).one())
    next_anchor = {
        "entries": entries,
        "last_id": last_id,
        "written_at": datetime.now(UTC).isoformat(),
        "key_id": key.id,
        "mac": _anchor_mac(key, entries, last_id),
    }
    return _Anchored(problem, next_anchor)
