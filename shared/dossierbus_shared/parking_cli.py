"""`dossierbus-parked list|discard`: the dossiers whose records wait behind a dead letter, in one service's
database (DATABASE_URL, and DATABASE_SCHEMA or SERVICE_NAME as the service runs with); discarding drops a
dossier's dead-letter marker and every record parked behind it, for good."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError
from sqlalchemy import delete, func, select

from dossierbus_shared.db import Database
from dossierbus_shared.parking import parked
from dossierbus_shared.settings import ServiceSettings


async def list_parked(db: Database) -> int:
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(parked).order_by(parked.c.consumer_group, parked.c.dossier_key, parked.c.id)
            )
        ).all()
    for row in rows:
        what = f"DEAD LETTER ({row.reason})" if row.dead_lettered else "parked"
        print(
            f"{row.consumer_group} dossier={row.dossier_key} event={row.event_id} type={row.event_type} "
            f"from={row.topic}[{row.partition}]@{row.offset} since={row.parked_at.isoformat()} {what}"
        )
    dossiers = {(row.consumer_group, row.dossier_key) for row in rows}
    print(
        f"{len(dossiers)} dossier(s) waiting, {sum(not row.dead_lettered for row in rows)} record(s) parked"
    )
    return 0


async def discard(db: Database, group: str, dossier: str) -> int:
    async with db.transaction() as session:
        count = (
            await session.execute(
                select(func.count()).where(parked.c.consumer_group == group, parked.c.dossier_key == dossier)
            )
        ).scalar_one()
        await session.execute(
            delete(parked).where(parked.c.consumer_group == group, parked.c.dossier_key == dossier)
        )
    if not count:
        print(f"dossierbus-parked: nothing waits for dossier {dossier} in {group}", file=sys.stderr)
        return 1
    print(
        f"discarded {count} row(s) of dossier {dossier} in {group}; its next records are applied as they come"
    )
    return 0


async def _run(args: argparse.Namespace, settings: ServiceSettings) -> int:
    db = Database(settings.database_url, settings.db_schema, pool_size=1)
    try:
        if args.command == "list":
            return await list_parked(db)
        return await discard(db, args.group or settings.consumer_group, args.dossier)
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dossierbus-parked", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="print every dead-letter marker and parked record, in order")
    drop = commands.add_parser("discard", help="drop a dossier's marker and parked records")
    drop.add_argument("dossier", help="the dossier id (the records' Kafka key)")
    drop.add_argument(
        "--group", help="the consumer group (default: the service's, dossierbus.<SERVICE_NAME>)"
    )
    args = parser.parse_args(argv)
    try:
        settings = ServiceSettings()
    except ValidationError as error:
        print(f"dossierbus-parked: {error}", file=sys.stderr)
        return 2
    return asyncio.run(_run(args, settings))


if __name__ == "__main__":
    sys.exit(main())
