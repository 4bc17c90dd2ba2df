"""The national portal's status-sync API over HTTP (the adapter the relay sends through).

The changes of one round go in one request:

    POST <PORTAL_SYNC_URL>
    X-API-Key: <PORTAL_SYNC_API_KEY>
    Content-Type: application/json

    {"changes": [{"idempotency_key": "<the change's key, the same on every attempt>",
                  "sync": {"MaHoSo": ..., "MaTTHC": ..., "MaDonViTiepNhan": ..., "TrangThaiHoSo": 4,
                           "ThoiDiemXuLy": ..., "NgayKetThucTheoQuyDinh": ..., "DonViXuLy": ...}},
                 ...]}

and the portal answers each change on its own, in a 200:

    {"results": [{"idempotency_key": "...", "status": 200, "detail": null, "retry_after_s": null}, ...]}

A result's `status` means what the HTTP status of a call for that change alone would (200 taken, 409 key
used with another sync, 422 invalid sync, 503 or 429 with `retry_after_s`, ...): it is that change's
`Answer`. Any other answer (none at all, 401, 413, 429, 5xx, ...) is the request's, and is every change's
`Answer`, marked as the whole request's; a 2xx whose body is not the results, or that has none for a
change, is no answer for that change. One `Answer` per change, in their order (decisions.py judges
them); this module never raises for an answer or for the lack of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol
from uuid import UUID

import httpx

from dossierbus_routing.portal_sync.decisions import Answer

REASON_CHARS = 500
"""How much of the portal's reason is kept with a failed change."""


class Change(NamedTuple):
    """What the portal is sent of one change: its idempotency key and its sync body."""

    idempotency_key: UUID
    payload: dict[str, Any]


class Portal(Protocol):
    async def send(self, changes: Sequence[Change]) -> list[Answer]:
        """The portal's answer to each change, in the order of `changes`."""
        ...


class HttpPortal:
    def __init__(self, url: str, api_key: str | None, client: httpx.AsyncClient) -> None:
        self.url = url
        self.headers = {"X-API-Key": api_key} if api_key else {}
        self.client = client

    async def send(self, changes: Sequence[Change]) -> list[Answer]:
        if not changes:
            return []
        body = {
            "changes": [{"idempotency_key": str(key), "sync": payload} for key, payload in changes],
        }
        try:
            response = await self.client.post(self.url, json=body, headers=self.headers)
        except httpx.HTTPError as error:
            return [Answer(None, error=f"{type(error).__name__}: {error}"[:REASON_CHARS])] * len(changes)
        if not response.is_success:
            status = response.status_code
            whole = Answer(status, reason(response), retry_after(response), whole_request=True)
            return [whole] * len(changes)
        return results(response, changes)


def results(response: httpx.Response, changes: Sequence[Change]) -> list[Answer]:
    """Each change's answer from the results of a 2xx (matched by key); no answer for a change without
    one, nor for any when the body is not the results."""
    try:
        body = response.json()
    except ValueError:
        body = None
    items = body.get("results") if isinstance(body, dict) else None
    if not isinstance(items, list):
        error = f"HTTP {response.status_code} without the results of the changes: {reason(response)}"
        return [Answer(None, error=error[:REASON_CHARS])] * len(changes)
    by_key: dict[UUID, dict[str, Any]] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("idempotency_key"), str):
            try:
                by_key.setdefault(UUID(item["idempotency_key"]), item)
            except ValueError:
                continue
    missing = Answer(None, error=f"HTTP {response.status_code} without a result for this change")
    return [item_answer(by_key.get(change.idempotency_key)) or missing for change in changes]


def item_answer(item: dict[str, Any] | None) -> Answer | None:
    """A result as the answer to its change; None when it is not one (no status)."""
    if item is None:
        return None
    status = item.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        return None
    detail = item.get("detail")
    if isinstance(detail, str) and detail:
        error: str | None = detail[:REASON_CHARS]
    else:  # nothing said: at least the status's name, when it failed
        error = None if 200 <= status < 300 else httpx.codes.get_reason_phrase(status) or None
    return Answer(status, error, seconds(item.get("retry_after_s")))


def seconds(value: Any) -> float | None:
    """A result's retry_after_s: a number of seconds, not negative; anything else is none."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        return None
    return float(value)


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
