"""The console answers operators only: every page redirects to the login and every API call is a 401
without a login; the login sets a hardened session cookie; a change made with it needs its CSRF token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dossierbus_console.app import create_app
from dossierbus_console.login import COOKIE, CSRF_HEADER
from dossierbus_console.settings import ConsoleSettings
from dossierbus_devstack.parts import free_port

TOKEN = "operator-s3cret"
PAGES = ["/", "/index.html", "/console.js", "/api.js", "/charts.js", "/?dossier=000.00.01.H26-261126-0001"]
API = [
    ("GET", "/api/config"),
    ("GET", "/api/dossiers/000.00.01.H26-261126-0001"),
    ("GET", "/api/queues"),
    ("GET", "/api/indicators"),
    ("GET", "/api/dlq/dossier.verified.dlq"),
    ("POST", "/api/dlq/dossier.verified.dlq/replay"),
    ("GET", "/api/no-such-route"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
]


def console_app(token: str | None = TOKEN, base_url: str = "http://console") -> httpx.AsyncClient:
    closed = free_port()  # nothing the console reads answers: only who may ask is tested here
    settings = ConsoleSettings(
        kafka_bootstrap_servers=f"127.0.0.1:{closed}",
        routing_url=f"http://127.0.0.1:{closed}",
        notifications_url=f"http://127.0.0.1:{closed}",
        upstream_timeout_s=2,
        operator_token=token,  # type: ignore[arg-type]
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)), base_url=base_url)


@pytest.fixture
async def console() -> AsyncIterator[httpx.AsyncClient]:
    async with console_app() as client:
        yield client


async def log_in(console: httpx.AsyncClient, token: str = TOKEN) -> httpx.Response:
    return await console.post("/login", data={"token": token})


@pytest.mark.parametrize("path", PAGES)
async def test_a_page_without_a_login_redirects_to_the_login(console: httpx.AsyncClient, path: str) -> None:
    response = await console.get(path)
    assert (response.status_code, response.headers["location"]) == (303, "/login")


@pytest.mark.parametrize(("method", "path"), API)
async def test_an_api_call_without_a_login_is_a_401_problem(
    console: httpx.AsyncClient, method: str, path: str
) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = await console.request(method, path, json={"event_id": "e"}, headers=headers)
        assert response.status_code in (303, 401), (path, response.status_code)
        if path.startswith("/api"):
            assert response.status_code == 401
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"] == "Bearer"
    console.cookies.set(COOKIE, "9999999999.nonce.forged")
    forged = await console.request(method, path)
    assert forged.status_code in (303, 401)


async def test_the_login_page_probes_and_metrics_answer_without_a_login(console: httpx.AsyncClient) -> None:
    page = await console.get("/login")
    assert page.status_code == 200 and 'name="token"' in page.text and 'type="password"' in page.text
    assert (await console.get("/healthz")).status_code == 200
    assert (await console.get("/metrics")).status_code == 200


async def test_the_login_sets_a_signed_httponly_strict_expiring_cookie(console: httpx.AsyncClient) -> None:
    response = await log_in(console)

    assert (response.status_code, response.headers["location"]) == (303, "/")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=strict", "Max-Age=28800", "Path=/"):
        assert attribute.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # plain http here; over https the cookie is Secure
    assert TOKEN not in cookie
    assert (await console.get("/")).status_code == 200
    assert (await console.get("/api/config")).json()["csrf_token"]


async def test_over_https_the_cookie_is_secure() -> None:
    async with console_app(base_url="https://console") as console:
        assert "secure" in (await log_in(console)).headers["set-cookie"].lower()


async def test_a_wrong_token_does_not_log_in(console: httpx.AsyncClient) -> None:
    for wrong in ("", "wrong", TOKEN + "x", "tökén"):
        response = await log_in(console, wrong)
        assert response.status_code == 401 and "Wrong operator token" in response.text
        assert "set-cookie" not in response.headers
    assert (await console.get("/api/queues")).status_code == 401


async def test_a_login_posted_from_another_site_is_refused(console: httpx.AsyncClient) -> None:
    response = await console.post("/login", data={"token": TOKEN}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and "set-cookie" not in response.headers


async def test_without_an_operator_token_nobody_logs_in() -> None:
    async with console_app(token=None) as console:
        assert (await console.get("/login")).status_code == 403
        assert (await log_in(console, "")).status_code == 403
        assert (await console.get("/api/queues", headers={"Authorization": "Bearer "})).status_code == 401


async def test_a_replay_with_the_session_needs_its_csrf_token(console: httpx.AsyncClient) -> None:
    await log_in(console)
    replay = "/api/dlq/not-a-dlq/replay"  # refused after the login checks, before the broker is asked

    assert (await console.post(replay, json={"event_id": "e"})).status_code == 403
    wrong = await console.post(replay, json={"event_id": "e"}, headers={CSRF_HEADER: "0" * 64})
    assert wrong.status_code == 403 and CSRF_HEADER in wrong.json()["detail"]
    csrf = (await console.get("/api/config")).json()["csrf_token"]
    passed = await console.post(replay, json={"event_id": "e"}, headers={CSRF_HEADER: csrf})
    assert passed.status_code == 422 and passed.json()["errors"][0]["field"] == "topic"


async def test_an_api_client_uses_the_bearer_token_without_csrf(console: httpx.AsyncClient) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    response = await console.post("/api/dlq/not-a-dlq/replay", json={"event_id": "e"}, headers=bearer)
    assert response.status_code == 422
    assert (await console.get("/api/config", headers=bearer)).json()["csrf_token"] is None


async def test_logging_out_ends_the_session_in_the_browser(console: httpx.AsyncClient) -> None:
    await log_in(console)
    response = await console.post("/logout")
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert (await console.get("/api/config")).status_code == 401
