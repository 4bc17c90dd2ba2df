"""Webhooks to agency systems: the event as CloudEvents JSON, POSTed to the agency's `webhook_url` from
the agency directory and signed with its webhook secret (see `signature.py`)."""

from __future__ import annotations

import time
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from dossierbus_notifications.channels import Outgoing
from dossierbus_notifications.signature import EVENT_ID_HEADER, SIGNATURE_HEADER, signature_header
from dossierbus_shared.directory import AgencyDirectory


class WebhookSecrets:
    """Agencies' webhook secrets, read from the registry with a token that reads them and nothing else
    (WEBHOOK_SECRETS_TOKEN), and kept for a while.
    A receiver that refuses the signature (401/403) drops the kept secret: it may have been rotated."""

    def __init__(self, registry_url: str, token: str, *, cache_s: float, timeout_s: float) -> None:
        self.registry_url = registry_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.cache_s = cache_s
        self._http = httpx.AsyncClient(timeout=timeout_s)
        self._kept: dict[str, tuple[str, float]] = {}

    async def get(self, agency_code: str) -> str:
        kept = self._kept.get(agency_code)
        if kept and time.monotonic() - kept[1] < self.cache_s:
            return kept[0]
        response = await self._http.get(
            f"{self.registry_url}/agencies/{agency_code}/webhook-secret", headers=self.headers
        )
        if not response.is_success:
            raise RuntimeError(
                f"registry answered HTTP {response.status_code} for the webhook secret of {agency_code}"
            )
        secret = str(response.json()["webhook_secret"])
        self._kept[agency_code] = (secret, time.monotonic())
        return secret

    def forget(self, agency_code: str) -> None:
        self._kept.pop(agency_code, None)

    async def close(self) -> None:
        await self._http.aclose()


class WebhookChannel:
    name = "webhook"

    def __init__(self, directory: AgencyDirectory, secrets: WebhookSecrets, timeout_s: float) -> None:
        self.directory = directory
        self.secrets = secrets
        self._http = cookieless_client(timeout_s)  # connections to each agency kept between messages

    def subscribed(self, agency_code: str) -> bool:
        """Whether the agency is active in the directory with a webhook."""
        entry = self.directory.agency(agency_code)
        return bool(entry and entry.webhook_url)

    async def send(self, outgoing: Outgoing) -> None:
        agency = outgoing.recipient
        entry = self.directory.agency(agency)
        if entry is None or not entry.webhook_url:
            raise RuntimeError(f"agency {agency} has no webhook in the directory (any more)")
        body = outgoing.body.encode()
        headers = {
            "Content-Type": "application/cloudevents+json",
            "User-Agent": "dossierbus-notifications",
            EVENT_ID_HEADER: str(outgoing.event_id),
            "X-Dossierbus-Delivery-Attempt": str(outgoing.attempt),
            # signed just before sending: every attempt carries a fresh timestamp
            SIGNATURE_HEADER: signature_header(await self.secrets.get(agency), body, int(time.time())),
        }
        response = await self._http.post(entry.webhook_url, content=body, headers=headers)
        if response.status_code in (401, 403):
            self.secrets.forget(agency)
        if not response.is_success:
            raise RuntimeError(f"{entry.webhook_url} answered HTTP {response.status_code}")

    async def close(self) -> None:
        await self._http.aclose()
        await self.secrets.close()


def cookieless_client(
    timeout_s: float, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A client that keeps no cookie: no agency's server can set one (for a parent domain, say) that
    would go with the webhooks to another agency."""
    jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(timeout=timeout_s, cookies=jar, transport=transport)
