"""Async SQLAlchemy on asyncpg; each service lives in its own PostgreSQL schema."""

from dossierbus_shared.db.engine import Database, before_commit, metadata, service_metadata

__all__ = ["Database", "before_commit", "metadata", "service_metadata"]
