"""Choosing the national databases adapter from settings, behind the lookup cache."""

from __future__ import annotations

from dataclasses import dataclass

from dossierbus_registry.adapters.cache import CachedNationalDatabases
from dossierbus_registry.adapters.changes import ChangeListener
from dossierbus_registry.adapters.gateway import CircuitBreaker, HttpNationalDatabases
from dossierbus_registry.adapters.population import NationalDatabases, ReferenceNationalDatabases
from dossierbus_registry.settings import RegistrySettings
from dossierbus_shared.db import Database


@dataclass
class National:
    databases: CachedNationalDatabases
    reference: ReferenceNationalDatabases | None
    gateway: HttpNationalDatabases | None
    listener: ChangeListener | None
    """Invalidates the cache on changes to the reference databases (none for the gateway: TTL only)."""


def national_databases(settings: RegistrySettings, db: Database) -> National:
    reference: ReferenceNationalDatabases | None = None
    gateway: HttpNationalDatabases | None = None
    source: NationalDatabases
    if settings.national_db == "http":
        assert settings.national_db_url is not None  # the settings refuse http without a URL
        token = settings.national_db_token
        gateway = HttpNationalDatabases(
            settings.national_db_url,
            timeout_s=settings.national_db_timeout_s,
            attempts=settings.national_db_attempts,
            backoff_s=settings.national_db_backoff_s,
            breaker=CircuitBreaker(
                settings.national_db_breaker_failures, settings.national_db_breaker_reset_s
            ),
            token=token.get_secret_value() if token else None,
        )
        source = gateway
    else:
        source = reference = ReferenceNationalDatabases(db)
    cache = CachedNationalDatabases(
        source,
        ttl_s=settings.national_db_cache_ttl_s,
        negative_ttl_s=settings.national_db_cache_negative_ttl_s,
        max_entries=settings.national_db_cache_size,
    )
    listener = ChangeListener(db, cache) if reference is not None else None
    return National(cache, reference, gateway, listener)
