"""Request bodies above HTTP_MAX_BODY_BYTES are refused with 413 before a route reads them whole, whether
they announce their length or stream it; bodies within the cap reach the route unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request

from dossierbus_shared.body_limit import BodyLimit
from dossierbus_shared.http_errors import install_error_handlers

CAP = 2048


def app() -> FastAPI:
    application = FastAPI()
    install_error_handlers(application)
    application.add_middleware(BodyLimit, max_bytes=CAP)

    @application.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"read": len(await request.body())}

    @application.post("/json")
    async def json_body(document: dict[str, str]) -> dict[str, int]:
        return {"fields": len(document)}

    return application


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://test")


async def test_a_body_within_the_cap_reaches_the_route() -> None:
    async with client() as http:
        assert (await http.post("/raw", content=b"x" * CAP)).json() == {"read": CAP}
        assert (await http.post("/json", json={"a": "b"})).json() == {"fields": 1}


async def test_an_announced_length_above_the_cap_is_refused_before_the_route() -> None:
    async with client() as http:
        for path in ("/raw", "/json"):
            response = await http.post(path, content=b"x" * (CAP + 1))
            assert response.status_code == 413, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["title"] == "Request body too large"


async def test_a_streamed_body_is_cut_off_once_it_passes_the_cap() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    async with client() as http:
        for path in ("/raw", "/json"):
            response = await http.post(path, content=chunks())  # chunked: no Content-Length
            assert response.status_code == 413, response.text
            assert response.json()["status"] == 413


async def test_a_length_that_is_not_a_number_is_a_bad_request() -> None:
    async with client() as http:
        response = await http.post("/raw", content=b"{}", headers={"Content-Length": "lots"})
        assert response.status_code == 400, response.text
