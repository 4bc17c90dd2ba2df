"""`dossierbus-registry seed`: load the reference national databases; `... agency`: onboard agencies;
`... access-log verify`: check the keyed access log."""

from __future__ import annotations

import argparse
import asyncio
import sys

from dossierbus_registry import access_log_cli, agency_cli


async def run_seed(citizen_count: int, enterprise_count: int, seed_value: int) -> None:
    # Imported here: the agency commands talk HTTP and should not pay for the database libraries.
    from dossierbus_registry.seeding import seed
    from dossierbus_registry.settings import RegistrySettings
    from dossierbus_shared.db import Database

    settings = RegistrySettings()
    db = Database(settings.database_url, settings.db_schema)
    try:
        await seed(db, citizen_count, enterprise_count, seed_value, report=print)
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="dossierbus-registry")
    commands = parser.add_subparsers(dest="command", required=True)
    seed_parser = commands.add_parser(
        "seed",
        help="load synthetic citizens and enterprises (DATABASE_URL, DB_SCHEMA; run after start-up)",
    )
    seed_parser.add_argument("--citizens", "--count", dest="citizens", type=int, default=1000)
    seed_parser.add_argument("--enterprises", type=int, default=0)
    seed_parser.add_argument("--seed", type=int, default=766)
    agency_cli.add_commands(commands)
    access_log_cli.add_commands(commands)
    args = parser.parse_args()
    if args.command == "agency":
        sys.exit(agency_cli.run(args))
    if args.command == "access-log":
        sys.exit(access_log_cli.run(args))
    asyncio.run(run_seed(args.citizens, args.enterprises, args.seed))


if __name__ == "__main__":
    main()
