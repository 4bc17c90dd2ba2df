"""Async SQLAlchemy on asyncpg; each service lives in its own PostgreSQL schema."""

from dossierbus_shared.db.engine import (
    Database,
    after_commit,
    before_commit,
    metadata,
    one_snapshot,
    retry_dropped_connection,
    service_metadata,
    session_schema,
)

__all__ = [
    "Database",
    "after_commit",
    "before_commit",
    "metadata",
    "one_snapshot",
    "retry_dropped_connection",
    "service_metadata",
    "session_schema",
]
