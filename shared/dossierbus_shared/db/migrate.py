"""Alembic, run programmatically: one env.py here, each service brings only its `versions/` folder."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from dossierbus_shared.db.engine import async_url

ENV_DIR = Path(__file__).parent / "alembic"


def alembic_config(database_url: str, schema: str, versions_dir: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ENV_DIR))
    config.set_main_option("path_separator", "os")  # one versions directory, whatever its name holds
    config.set_main_option("version_locations", str(versions_dir))
    config.attributes["database_url"] = async_url(database_url)
    config.attributes["schema"] = schema
    return config


def upgrade(database_url: str, schema: str, versions_dir: Path, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url, schema, versions_dir), revision)


async def upgrade_async(database_url: str, schema: str, versions_dir: Path, revision: str = "head") -> None:
    """For callers already inside an event loop (env.py runs one of its own)."""
    await asyncio.to_thread(upgrade, database_url, schema, versions_dir, revision)
