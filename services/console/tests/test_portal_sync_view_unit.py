"""What the console shows of the national portal sync, read from routing (answered here by a fake): a
dossier's changes beside its timeline, still shown when the sync cannot be read, and the failures list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from dossierbus_console.settings import ConsoleSettings
from dossierbus_console.upstream import Upstreams
from dossierbus_shared.http_errors import ProblemError

CODE = "000.00.01.H26-260302-0001"
CHANGE = {"dossier_code": CODE, "status": "accepted", "national_status": 2, "state": "failed", "attempts": 1}


def upstreams(answers: dict[str, Callable[[], httpx.Response]]) -> Upstreams:
    def handle(request: httpx.Request) -> httpx.Response:
        return answers.get(request.url.path, lambda: httpx.Response(404, json={"detail": "no"}))()

    settings = ConsoleSettings(routing_url="http://routing", notifications_url="http://notifications")
    return Upstreams(settings, httpx.AsyncClient(transport=httpx.MockTransport(handle)))


def dossier_answers(portal_sync: Callable[[], httpx.Response]) -> dict[str, Callable[[], httpx.Response]]:
    return {
        f"/dossiers/{CODE}": lambda: httpx.Response(200, json={"dossier_code": CODE, "timeline": []}),
        f"/dossiers/{CODE}/notifications": lambda: httpx.Response(200, json={"notifications": []}),
        f"/dossiers/{CODE}/portal-sync": portal_sync,
    }


async def test_a_dossier_comes_with_what_the_portal_was_told() -> None:
    sync = {"dossier_code": CODE, "enabled": True, "changes": [CHANGE]}
    shown = await upstreams(dossier_answers(lambda: httpx.Response(200, json=sync))).dossier(CODE)
    assert shown["portal_sync"] == {"available": True, **sync}


async def test_a_sync_that_cannot_be_read_does_not_hide_the_dossier() -> None:
    shown = await upstreams(dossier_answers(lambda: httpx.Response(500, text="boom"))).dossier(CODE)
    assert shown["dossier_code"] == CODE
    assert shown["portal_sync"]["available"] is False
    assert "answered 500" in shown["portal_sync"]["detail"]


async def test_the_failures_are_routings() -> None:
    body = {"enabled": True, "failed_total": 1, "failed": [CHANGE], "retrying": []}
    answers: dict[str, Any] = {"/portal-sync/failures": lambda: httpx.Response(200, json=body)}
    assert await upstreams(answers).portal_sync_failures() == body
    with pytest.raises(ProblemError) as missing:
        await upstreams({}).portal_sync_failures()
    assert missing.value.status == 404
