"""Statements the services send to PostgreSQL, counted by PostgreSQL itself (pg_stat_statements, per
service role: any checkout can be measured so) and by the services (`dossierbus_db_statements_total` on
their /metrics, where a checkout has it).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from dossierbus_devstack.database import EmbeddedPostgres, asyncpg_dsn

KINDS = ("select", "insert", "update", "delete", "other", "begin", "commit", "rollback")
"""As `dossierbus_db_statements_total` labels them."""

_KIND_OF_KEYWORD = {
    **{kind: kind for kind in ("select", "insert", "update", "delete", "begin", "commit", "rollback")},
    "start": "begin",
    "end": "commit",
    "abort": "rollback",
}

_WRITING_CTE = re.compile(r'\s*WITH\s+(?:RECURSIVE\s+)?"?\w+"?\s+AS\s+\(\s*(INSERT|UPDATE|DELETE)\b', re.I)

Counts = Counter[tuple[str, str]]
"""Statements (or rows) per (service, kind)."""


@asynccontextmanager
async def observed_postgres() -> AsyncIterator[str]:
    """A superuser's URL of a PostgreSQL that counts statements: DATABASE_URL's if set (counting where
    pg_stat_statements is loaded there), else an embedded one as the stack starts it, with
    pg_stat_statements loaded, removed on exit."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    workdir = Path(tempfile.mkdtemp(prefix="dossierbus-bench-"))
    database = EmbeddedPostgres(workdir / "postgres", workdir / "postgres.log")
    try:
        url = await database.start()
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await connection.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        finally:
            await connection.close()
        database.stop_server()  # a library to preload is read at start only
        await database.start_server()
        yield url
    finally:
        database.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def counted_by_postgres(connection: asyncpg.Connection) -> tuple[Counts, Counts] | None:
    """Statements and the rows they returned or changed, per service role and kind, since the server
    started; None where pg_stat_statements is not loaded. The connection's own role is left out."""
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        rows = await connection.fetch(
            """SELECT r.rolname AS role, s.query, s.calls, s.rows
               FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
               WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND r.rolname <> current_user"""
        )
    except asyncpg.PostgresError:
        return None
    calls: Counts = Counter()
    returned_or_changed: Counts = Counter()
    for row in rows:
        key = (row["role"], kind_of(row["query"]))
        calls[key] += row["calls"]
        returned_or_changed[key] += row["rows"]
    return calls, returned_or_changed


def kind_of(statement: str) -> str:
    """A statement's kind by its first keyword, or a WITH statement's by its first CTE that writes, as the
    services count it (here, not imported: the baseline of `compare.py` counts as this checkout does)."""
    writing = _WRITING_CTE.match(statement)
    if writing:
        return writing.group(1).lower()
    words = statement.lstrip(" \t\r\n(").split(None, 1)
    return _KIND_OF_KEYWORD.get(words[0].lower().rstrip(";") if words else "", "other")


async def counted_by_services(http: httpx.AsyncClient, metrics_urls: Iterable[str]) -> Counts | None:
    """`dossierbus_db_statements_total` per (service, kind) summed over the services' /metrics; None when
    no service exposes it."""
    counts: Counts = Counter()
    exposed = False
    for url in metrics_urls:
        response = await http.get(url)
        response.raise_for_status()
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == "dossierbus_db_statements_total":
                    exposed = True
                    counts[sample.labels["service"], sample.labels["kind"]] += int(sample.value)
    return counts if exposed else None
