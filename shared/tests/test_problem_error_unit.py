"""A ProblemError raised by a route is answered as its problem document, with the headers it names (a 503's
Retry-After)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from dossierbus_shared.http_errors import ProblemError, install_error_handlers


async def test_a_problem_error_is_answered_with_its_status_document_and_headers() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/busy")
    async def busy() -> None:
        raise ProblemError(503, "Platform unavailable", "try again later", headers={"Retry-After": "30"})

    @app.post("/plain")
    async def plain() -> None:
        raise ProblemError(409, "Conflict", "already done")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        answered = await http.post("/busy")
        assert answered.status_code == 503 and answered.headers["Retry-After"] == "30"
        assert answered.json() == {
            "type": "about:blank",
            "title": "Platform unavailable",
            "status": 503,
            "detail": "try again later",
        }
        assert "Retry-After" not in (await http.post("/plain")).headers
