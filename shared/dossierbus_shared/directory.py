"""The agency directory, as every service sees it: a copy of the registry's `GET /agencies`, refreshed
in the background (like X-Road's global configuration), so that a newly onboarded agency, a rotated key
or a new webhook reaches every service without a restart, and a registry outage changes nothing."""

from __future__ import annotations

import time

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter

from dossierbus_shared.periodic import every


class Handles(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    procedure_code: str
    step: str
    receiving_unit: str | None = None


class DirectoryEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str
    name: dict[str, str]
    sector: str
    status: str
    inbox_topic: str
    reports_topic: str
    webhook_url: str | None = None
    public_key: str | None = None
    api_token_sha256: str | None = None
    """SHA-256 of the agency's API token, so every service knows an agency's calls without a lookup."""
    handles: list[Handles] = []
    result_domains: list[str] = []
    """Host names the agency publishes result documents on (https only; see result_urls)."""


_ENTRIES = TypeAdapter(list[DirectoryEntry])


class AgencyDirectory:
    def __init__(self, registry_url: str, *, refresh_s: float = 30.0, timeout_s: float = 5.0) -> None:
        self.registry_url = registry_url.rstrip("/")
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self.entries: dict[str, DirectoryEntry] = {}
        self.refreshed_at: float | None = None

    @classmethod
    def of(cls, entries: list[DirectoryEntry]) -> AgencyDirectory:
        """A fixed directory (tests, or a service running without a registry)."""
        directory = cls("")
        directory.entries = {entry.code: entry for entry in entries}
        return directory

    async def refresh(self, http: httpx.AsyncClient | None = None) -> None:
        if http is None:
            async with httpx.AsyncClient(timeout=self.timeout_s) as own:
                return await self.refresh(own)
        response = await http.get(f"{self.registry_url}/agencies")
        response.raise_for_status()
        self.entries = {entry.code: entry for entry in _ENTRIES.validate_python(response.json()["agencies"])}
        self.refreshed_at = time.monotonic()

    async def keep_fresh(self) -> None:
        """Refresh until cancelled; on failure keep the last good copy and try again at the next interval."""
        # One client for the lifetime: a new one per refresh would rebuild its TLS context every time.
        async with httpx.AsyncClient(timeout=self.timeout_s) as http:

            async def refresh() -> None:
                await self.refresh(http)

            what = f"refreshing the agency directory from {self.registry_url} (the last copy is kept)"
            await every(self.refresh_s, refresh, what=what)

    def agency(self, code: str) -> DirectoryEntry | None:
        entry = self.entries.get(code)
        return entry if entry and entry.status == "active" else None

    def token_digests(self) -> dict[str, str]:
        """API token digest -> code of each active agency (dossierbus_shared.auth.AgencyTokens)."""
        return {
            entry.api_token_sha256: entry.code
            for entry in self.entries.values()
            if entry.status == "active" and entry.api_token_sha256
        }

    def handler(self, procedure_code: str, step: str, receiving_unit: str | None) -> str | None:
        """An onboarded agency that declared it handles this step: one for the receiving unit first,
        then one for any unit; None leaves the catalogue's agency in charge."""
        for wanted_unit in (receiving_unit, None):
            for entry in sorted(self.entries.values(), key=lambda item: item.code):
                if entry.status != "active":
                    continue
                for item in entry.handles:
                    if (item.procedure_code, item.step, item.receiving_unit) == (
                        procedure_code,
                        step,
                        wanted_unit,
                    ):
                        return entry.code
        return None
