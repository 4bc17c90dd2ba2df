"""What the citizen page reads, over HTTP (httpx MockTransport): each service is called with her own
token, and each answer ends as a Read the page can show."""

from __future__ import annotations

import httpx
import pytest

from dossierbus_intake.citizen.sources import HttpSources, Read, read_answer

CODE = "000.00.01.H26-261202-0001"


def client(base_url: str, handler: httpx.MockTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, transport=handler)


async def test_each_service_is_read_with_her_token() -> None:
    seen: list[tuple[str, str, str | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.headers.get("authorization")))
        if request.url.path.endswith("/payment"):
            return httpx.Response(404, json={"title": "Not found"})
        return httpx.Response(200, json={"from": request.url.host})

    transport = httpx.MockTransport(answer)
    sources = HttpSources(
        routing=client("http://routing:8003", transport),
        notifications=client("http://notifications:8004", transport),
        own=client("http://intake.internal", transport),
    )
    reads = await sources.read(CODE, "her.id.token")
    assert sorted(seen) == [
        ("GET", f"http://intake.internal/dossiers/{CODE}/payment", "Bearer her.id.token"),
        ("GET", f"http://notifications:8004/dossiers/{CODE}/notifications", "Bearer her.id.token"),
        ("GET", f"http://routing:8003/dossiers/{CODE}", "Bearer her.id.token"),
    ]
    assert reads.routing == Read("ok", {"from": "routing"})
    assert reads.notifications == Read("ok", {"from": "notifications"})
    assert reads.payment.outcome == "absent"  # no fees

    opened = await sources.open_payment(CODE, "her.id.token")
    assert seen[-1] == ("POST", f"http://intake.internal/dossiers/{CODE}/payment", "Bearer her.id.token")
    assert opened.outcome == "absent"


async def test_a_service_that_does_not_answer_is_unavailable_and_the_others_still_read() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "routing":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"notifications": []})

    transport = httpx.MockTransport(answer)
    sources = HttpSources(
        routing=client("http://routing", transport),
        notifications=client("http://notifications", transport),
        own=client("http://intake.internal", transport),
    )
    reads = await sources.read(CODE, "t")
    assert reads.routing == Read("unavailable", detail="routing did not answer")
    assert reads.notifications.ok and reads.payment.ok


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(200, json={"status": "returned"}), Read("ok", {"status": "returned"})),
        (httpx.Response(401, json={"title": "Unauthenticated"}), Read("unauthenticated")),
        (httpx.Response(404, json={"title": "Not found"}), Read("absent")),
        (
            httpx.Response(
                503,
                json={"title": "Busy", "detail": "every database connection is busy"},
                headers={"content-type": "application/problem+json"},
            ),
            Read("unavailable", detail="every database connection is busy"),
        ),
        (httpx.Response(502, text="bad gateway"), Read("unavailable", detail="routing answered 502")),
        (
            httpx.Response(200, text="<html>"),
            Read("unavailable", detail="routing answered something other than JSON"),
        ),
        (
            httpx.Response(200, json=[1, 2]),
            Read("unavailable", detail="routing answered an unexpected document"),
        ),
    ],
)
def test_each_answer_becomes_a_read(answer: httpx.Response, expected: Read) -> None:
    assert read_answer("routing", answer) == expected
