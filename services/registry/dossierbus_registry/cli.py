"""`dossierbus-registry seed`: load the reference national databases; `... agency`: onboard agencies."""

from __future__ import annotations

import argparse
import asyncio
import sys

from dossierbus_registry import agency_cli
from dossierbus_registry.adapters.population import ReferenceNationalDatabases
from dossierbus_registry.settings import RegistrySettings
from dossierbus_registry.synthetic import citizens
from dossierbus_shared.db import Database


async def seed(count: int, seed_value: int) -> None:
    settings = RegistrySettings()
    db = Database(settings.database_url, settings.db_schema)
    try:
        async with db.transaction() as session:
            await ReferenceNationalDatabases(db).load_citizens(session, citizens(count, seed_value))
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="dossierbus-registry")
    commands = parser.add_subparsers(dest="command", required=True)
    seed_parser = commands.add_parser(
        "seed", help="load synthetic citizens (DATABASE_URL; run after start-up)"
    )
    seed_parser.add_argument("--count", type=int, default=1000)
    seed_parser.add_argument("--seed", type=int, default=766)
    agency_cli.add_commands(commands)
    args = parser.parse_args()
    if args.command == "agency":
        sys.exit(agency_cli.run(args))
    asyncio.run(seed(args.count, args.seed))
    print(f"loaded {args.count} synthetic citizens")


if __name__ == "__main__":
    main()
