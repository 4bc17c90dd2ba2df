"""What the composition root installs for the portal sync (see the package's docstring)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_routing.portal_sync.client import HttpPortal
from dossierbus_routing.portal_sync.decisions import RetryPolicy
from dossierbus_routing.portal_sync.metrics import SyncSampler
from dossierbus_routing.portal_sync.relay import PortalSyncRelay
from dossierbus_routing.portal_sync.store import PostgresStaging, SyncStaging, postgres_relay_transaction
from dossierbus_routing.settings import RoutingSettings
from dossierbus_shared.service import Service

PORTAL_LIMITS = httpx.Limits(max_connections=2, max_keepalive_connections=2, keepalive_expiry=30)
"""The relay sends one request per round, one round after another: one connection, kept alive between
rounds (the next round, under load, follows at once), and a spare."""


class PortalSync:
    def __init__(self, settings: RoutingSettings) -> None:
        self.settings = settings
        self.url = settings.portal_sync_url
        self.relay: PortalSyncRelay | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def staging(self, session: AsyncSession) -> SyncStaging | None:
        """Where a unit of work stages its changes for the portal; None when sync is off."""
        if not self.enabled:
            return None
        return PostgresStaging(session, committed=self._committed)

    def _committed(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    def install(self, service: Service, app: FastAPI) -> None:
        """Run the relay and its metrics for the life of the service (when sync is on)."""
        app.state.portal_sync_enabled = self.enabled
        if not self.url:
            return
        settings = self.settings
        key = settings.portal_sync_api_key
        client = httpx.AsyncClient(timeout=settings.portal_sync_timeout_s, limits=PORTAL_LIMITS)
        self.relay = PortalSyncRelay(
            postgres_relay_transaction(service.db),
            HttpPortal(self.url, key.get_secret_value() if key else None, client),
            RetryPolicy(settings.portal_sync_backoff_s, settings.portal_sync_backoff_max_s),
            batch_size=settings.portal_sync_batch_size,
            poll_interval_s=settings.portal_sync_poll_interval_s,
            gather_s=settings.portal_sync_gather_s,
        )
        service.background(self.relay.run)
        service.sample(SyncSampler(service.db))
        service.on_shutdown(client.aclose)
