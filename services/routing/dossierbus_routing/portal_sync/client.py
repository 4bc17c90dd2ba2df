"""The national portal's status-sync API over HTTP (the adapter the relay sends through).

    POST <PORTAL_SYNC_URL>
    X-API-Key: <PORTAL_SYNC_API_KEY>
    Idempotency-Key: <the change's key, the same on every attempt>
    Content-Type: application/json

    {"MaHoSo": ..., "MaTTHC": ..., "MaDonViTiepNhan": ..., "TrangThaiHoSo": 4, "ThoiDiemXuLy": ...,
     "NgayKetThucTheoQuyDinh": ..., "DonViXuLy": ...}

Whatever comes back is turned into an `Answer` (decisions.py judges it); this module never raises for
an answer or for the lack of one.
"""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

import httpx

from dossierbus_routing.portal_sync.decisions import Answer

REASON_CHARS = 500
"""How much of the portal's reason is kept with a failed change."""


class Portal(Protocol):
    async def send(self, payload: dict[str, Any], idempotency_key: UUID) -> Answer: ...


class HttpPortal:
    def __init__(self, url: str, api_key: str | None, client: httpx.AsyncClient) -> None:
        self.url = url
        self.headers = {"X-API-Key": api_key} if api_key else {}
        self.client = client

    async def send(self, payload: dict[str, Any], idempotency_key: UUID) -> Answer:
        headers = self.headers | {"Idempotency-Key": str(idempotency_key)}
        try:
            response = await self.client.post(self.url, json=payload, headers=headers)
        except httpx.HTTPError as error:
            return Answer(None, error=f"{type(error).__name__}: {error}"[:REASON_CHARS])
        if response.is_success:
            return Answer(response.status_code)
        return Answer(response.status_code, reason(response), retry_after(response))


def reason(response: httpx.Response) -> str:
    """The portal's reason: a problem document's detail (or a JSON message), else the text itself."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for name in ("detail", "message", "error", "title"):
            if isinstance(body.get(name), str) and body[name]:
                return str(body[name])[:REASON_CHARS]
    text = response.text.strip()
    if text in ("", "{}", "[]", "null"):
        return response.reason_phrase  # nothing said: at least the status's name
    return text[:REASON_CHARS]


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by the portal, and is ignored)."""
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
