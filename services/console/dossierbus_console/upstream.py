"""The other services, read over their public HTTP APIs: a dossier's timeline and notifications from
routing and notifications, what the national portal was told of it and the portal's refusals (routing's
portal sync), the Decision 766 indicators from routing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from dossierbus_console.settings import ConsoleSettings
from dossierbus_shared.http_errors import ProblemError


class Upstreams:
    def __init__(self, settings: ConsoleSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.client = client

    async def dossier(self, code: str) -> dict[str, Any]:
        """Status, timeline (each entry with a link to its trace), notifications and national portal sync
        of one dossier. The sync is shown as unavailable, rather than failing the page, when routing does
        not answer it."""
        routing, notifications, portal_sync = await asyncio.gather(
            self._get("routing", self.settings.routing_url, f"/dossiers/{code}"),
            self._get("notifications", self.settings.notifications_url, f"/dossiers/{code}/notifications"),
            self._optional("routing", self.settings.routing_url, f"/dossiers/{code}/portal-sync"),
        )
        if routing.status_code == 404:
            raise ProblemError(404, "Unknown dossier", f"no dossier with code {code!r} has reached routing")
        dossier = _json("routing", routing)
        for entry in dossier.get("timeline", []):
            entry["trace_url"] = self.trace_url(entry.get("trace_id"))
        dossier["notifications"] = _json("notifications", notifications).get("notifications", [])
        dossier["portal_sync"] = portal_sync
        return dossier

    async def portal_sync_failures(self) -> dict[str, Any]:
        """The changes the national portal refused, and those being retried (routing)."""
        response = await self._get("routing", self.settings.routing_url, "/portal-sync/failures")
        if response.status_code == 404:
            raise ProblemError(
                404, "Portal sync not available", "the routing service does not serve the portal sync"
            )
        return _json("routing", response)

    async def indicators(self) -> dict[str, Any]:
        response = await self._get("routing", self.settings.routing_url, "/indicators")
        if response.status_code == 404:
            raise ProblemError(
                404, "Indicators not available", "the routing service does not serve the 766 indicators"
            )
        body = _json("routing", response)
        return {**body, "indicators": [normalise_indicator(item) for item in body.get("indicators", [])]}

    def trace_url(self, trace_id: str | None) -> str | None:
        template = self.settings.trace_ui_url
        return template.replace("{trace_id}", trace_id) if template and trace_id else None

    async def _optional(self, service: str, base_url: str, path: str) -> dict[str, Any]:
        """The JSON answer, or `{"available": false, "detail": why}` when there is none."""
        try:
            return {"available": True, **_json(service, await self._get(service, base_url, path))}
        except ProblemError as problem:
            return {"available": False, "detail": problem.detail}

    async def _get(self, service: str, base_url: str, path: str) -> httpx.Response:
        try:
            return await self.client.get(base_url.rstrip("/") + path)
        except httpx.HTTPError as error:
            raise ProblemError(
                502, "Service unavailable", f"the {service} service did not answer: {error!r}"
            ) from error


def _json(service: str, response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise ProblemError(
            502,
            "Service error",
            f"the {service} service answered {response.status_code}: {response.text[:300]}",
        )
    body: dict[str, Any] = response.json()
    return body


def normalise_indicator(item: dict[str, Any]) -> dict[str, Any]:
    """One agency and procedure's indicators in the documented shape, whichever field names routing uses
    (`agency` or `agency_code`, `digitised_rate` or `digitised_results_rate`, a flat or nested satisfaction
    average); fields the console does not chart are kept as they are."""
    satisfaction = item.get("satisfaction")
    average = item.get("satisfaction_average")
    if average is None and isinstance(satisfaction, dict):
        average = satisfaction.get("average")
    return {
        **item,
        "agency": item.get("agency", item.get("agency_code")),
        "procedure": item.get("procedure", item.get("procedure_code")),
        "received": item.get("received", 0),
        "processed": item.get("processed", 0),
        "on_time_rate": item.get("on_time_rate"),
        "online_rate": item.get("online_rate"),
        "digitised_rate": item.get("digitised_rate", item.get("digitised_results_rate")),
        "satisfaction_average": average,
    }
