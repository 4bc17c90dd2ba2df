"""One database role per service, with the least it needs, and one owner role per service for migrations.

For a service `<s>` (its schema is `<s>` too):

- `<s>_owner` owns the schema and every table in it; only migrations connect with it
  (DATABASE_MIGRATION_URL). Owning is what allows ALTER, DROP, disabling triggers and granting.
- `<s>` is what the running service connects with (DATABASE_URL): USAGE on its own schema only, and
  SELECT, INSERT, UPDATE, DELETE on the tables and USAGE on the sequences its owner creates there (default
  privileges), never TRUNCATE, never another schema, never CREATE anywhere; temporary tables only for the
  services in TEMPORARY_TABLES. A migration narrows it further
  where a table needs it (the registry's access log: SELECT and INSERT only).

Nobody else (PUBLIC) may create in the database or in the `public` schema. The statements are idempotent:
run again, they reset the passwords and leave the rest as it is.

`python -m dossierbus_shared.db.roles` prints them as one SQL script for psql, with each role's password
from the environment (`DB_PASSWORD_<ROLE>`, e.g. DB_PASSWORD_REGISTRY, DB_PASSWORD_REGISTRY_OWNER), or
with `--development` each role's name as its password (docker compose: deploy/postgres/roles.sql).
"""

from __future__ import annotations

import argparse
import os
import re
import sys

SERVICES_WITH_DATABASE = ("intake", "registry", "routing", "notifications")
TEMPORARY_TABLES = frozenset({"registry"})
"""Services that may create temporary tables: the registry loads national data with COPY into a temporary
table, then inserts what is new (adapters/population.py)."""

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,50}$")
_PASSWORD = re.compile(r"^[A-Za-z0-9_\-]{1,200}$")


def owner_role(service: str) -> str:
    return f"{service}_owner"


def database_statements(database: str) -> list[str]:
    """What no role may do in the database unless granted: create schemas, or anything in `public`."""
    _check_name(database)
    return [
        f'REVOKE CREATE, TEMPORARY ON DATABASE "{database}" FROM PUBLIC',
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    ]


def service_statements(service: str, *, password: str, owner_password: str, database: str) -> list[str]:
    """Create (or update) the service's two roles and its schema, owned by the owner role."""
    _check_name(service)
    _check_name(database)
    role, owner, schema = service, owner_role(service), service
    return [
        *_login_role(owner, owner_password),
        *_login_role(role, password),
        f'GRANT CONNECT ON DATABASE "{database}" TO "{owner}", "{role}"',
        f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{owner}"',
        f'ALTER SCHEMA "{schema}" OWNER TO "{owner}"',
        f'REVOKE ALL ON SCHEMA "{schema}" FROM PUBLIC',
        f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA "{schema}"'
        f' GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{role}"',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA "{schema}"'
        f' GRANT USAGE, SELECT ON SEQUENCES TO "{role}"',
        *([f'GRANT TEMPORARY ON DATABASE "{database}" TO "{role}"'] if service in TEMPORARY_TABLES else []),
    ]


def _login_role(name: str, password: str) -> list[str]:
    if not _PASSWORD.match(password):
        raise ValueError(f"the password of role {name} may hold only letters, digits, '-' and '_'")
    return [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN"
        f' CREATE ROLE "{name}"; END IF; END $$',
        f'ALTER ROLE "{name}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS'
        f" PASSWORD '{password}'",
    ]


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a plain lower-case SQL name")


def script(database: str, passwords: dict[str, str]) -> str:
    """Every statement for the database and the services, as one SQL script (role -> password given)."""
    statements = database_statements(database)
    for service in SERVICES_WITH_DATABASE:
        statements += service_statements(
            service,
            password=passwords[service],
            owner_password=passwords[owner_role(service)],
            database=database,
        )
    header = "-- The services' database roles (python -m dossierbus_shared.db.roles); run as a superuser.\n"
    return header + "".join(f"{statement};\n" for statement in statements)


def development_passwords() -> dict[str, str]:
    return {role: role for service in SERVICES_WITH_DATABASE for role in (service, owner_role(service))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the SQL that makes the services' database roles.")
    parser.add_argument("--database", default="dossierbus")
    parser.add_argument("--development", action="store_true", help="each role's name as its password")
    args = parser.parse_args(argv)
    if args.development:
        passwords = development_passwords()
    else:
        names = {role: f"DB_PASSWORD_{role.upper()}" for role in development_passwords()}
        missing = [variable for variable in names.values() if not os.environ.get(variable)]
        if missing:
            print(f"set {', '.join(missing)} (or use --development)", file=sys.stderr)
            return 2
        passwords = {role: os.environ[variable] for role, variable in names.items()}
    try:
        print(script(args.database, passwords), end="")
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
