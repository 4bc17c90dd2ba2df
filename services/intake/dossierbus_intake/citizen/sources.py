"""What the citizen page reads for one dossier, from whoever holds it, always with the citizen's own
token (purpose binding: each service decides what she may read, as it would for any client of hers):

- routing's `GET /dossiers/{code}`: status, steps and their results, deadline, timeline;
- notifications' `GET /dossiers/{code}/notifications`: what she was sent;
- intake's own `GET /dossiers/{code}/payment` (docs/payments.md): fees, payment, receipt, refund; called
  through intake's own HTTP app in process, so its authorization is the API's, not a second copy.

Each read ends as a `Read`: the JSON body, "absent" (404: not there, or for payments, no fees),
"unavailable" (the service did not answer or failed) or "unauthenticated" (the token no longer works:
the page asks her to sign in again). A failing service costs its section of the page, never the page.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import quote

import httpx

log = logging.getLogger(__name__)

Outcome = Literal["ok", "absent", "unavailable", "unauthenticated"]


@dataclass(frozen=True)
class Read:
    outcome: Outcome
    body: dict[str, Any] | None = None
    detail: str | None = None
    """For "unavailable": a short reason (the status or the kind of failure), for the logs and page."""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True)
class DossierReads:
    routing: Read
    notifications: Read
    payment: Read

    @property
    def unauthenticated(self) -> bool:
        return any(
            read.outcome == "unauthenticated" for read in (self.routing, self.notifications, self.payment)
        )


class DossierSources(Protocol):
    async def read(self, code: str, token: str) -> DossierReads: ...

    async def open_payment(self, code: str, token: str) -> Read: ...


class HttpSources:
    """The services over HTTP; intake itself through `own` (an httpx client on intake's ASGI app)."""

    def __init__(
        self, *, routing: httpx.AsyncClient, notifications: httpx.AsyncClient, own: httpx.AsyncClient
    ) -> None:
        self.routing = routing
        self.notifications = notifications
        self.own = own

    async def read(self, code: str, token: str) -> DossierReads:
        path = f"/dossiers/{_path_segment(code)}"
        routing, notifications, payment = await asyncio.gather(
            _get(self.routing, "routing", path, token),
            _get(self.notifications, "notifications", f"{path}/notifications", token),
            _get(self.own, "intake", f"{path}/payment", token),
        )
        return DossierReads(routing, notifications, payment)

    async def open_payment(self, code: str, token: str) -> Read:
        return await _call(self.own, "intake", "POST", f"/dossiers/{_path_segment(code)}/payment", token)


async def _get(client: httpx.AsyncClient, service: str, path: str, token: str) -> Read:
    return await _call(client, service, "GET", path, token)


async def _call(client: httpx.AsyncClient, service: str, method: str, path: str, token: str) -> Read:
    try:
        answer = await client.request(method, path, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as failure:
        log.warning("citizen page: %s %s did not answer: %s", service, method, type(failure).__name__)
        return Read("unavailable", detail=f"{service} did not answer")
    return read_answer(service, answer)


def read_answer(service: str, answer: httpx.Response) -> Read:
    if answer.status_code == 401:
        return Read("unauthenticated")
    if answer.status_code == 404:
        return Read("absent")
    if answer.status_code != 200:
        log.warning("citizen page: %s answered %s", service, answer.status_code)
        return Read(
            "unavailable", detail=_problem_detail(answer) or f"{service} answered {answer.status_code}"
        )
    try:
        body = answer.json()
    except ValueError:
        return Read("unavailable", detail=f"{service} answered something other than JSON")
    if not isinstance(body, dict):
        return Read("unavailable", detail=f"{service} answered an unexpected document")
    return Read("ok", body)


def _problem_detail(answer: httpx.Response) -> str | None:
    """The `detail` of a problem+json answer (the services write them for their callers), shortened."""
    if not answer.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    try:
        detail = answer.json().get("detail")
    except (ValueError, AttributeError):
        return None
    return str(detail)[:300] if detail else None


def _path_segment(code: str) -> str:
    """The code as one path segment (codes are `<unit>-<YYMMDD>-<NNNN>`: nothing is escaped in them)."""
    return quote(code, safe="")
