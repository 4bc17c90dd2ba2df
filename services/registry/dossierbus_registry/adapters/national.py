"""The national databases: the adapter chosen from settings, behind the lookup cache; and the records a
unit of work reads, fetched for a run of events at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dossierbus_registry.adapters.cache import CachedNationalDatabases
from dossierbus_registry.adapters.changes import ChangeListener
from dossierbus_registry.adapters.gateway import CircuitBreaker, HttpNationalDatabases
from dossierbus_registry.adapters.population import NationalDatabases, ReferenceNationalDatabases
from dossierbus_registry.domain.national import Citizen, Enterprise
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


@dataclass
class NationalRecords:
    """The national records one unit of work reads: those of a run of events loaded with one call per
    database before its handlers run; any other one fetched when asked for."""

    databases: NationalDatabases
    _citizens: dict[str, Citizen | None] = field(default_factory=dict)
    _enterprises: dict[str, Enterprise | None] = field(default_factory=dict)

    async def load(self, personal_ids: Iterable[str] = (), tax_codes: Iterable[str] = ()) -> None:
        if wanted := [key for key in dict.fromkeys(personal_ids) if key not in self._citizens]:
            found = await self.databases.citizens(wanted)
            self._citizens |= {key: found.get(key) for key in wanted}
        if wanted := [key for key in dict.fromkeys(tax_codes) if key not in self._enterprises]:
            found_enterprises = await self.databases.enterprises(wanted)
            self._enterprises |= {key: found_enterprises.get(key) for key in wanted}

    async def citizen(self, personal_id: str) -> Citizen | None:
        await self.load(personal_ids=[personal_id])
        return self._citizens[personal_id]

    async def enterprise(self, tax_code: str) -> Enterprise | None:
        await self.load(tax_codes=[tax_code])
        return self._enterprises[tax_code]
