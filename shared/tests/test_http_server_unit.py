"""The services' HTTP server: uvicorn, parsing requests with httptools (installed with dossierbus-shared)
rather than falling back to h11, which parses in Python at several times the cost per request."""

from __future__ import annotations

from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that is never called: only the server's choice of parser is looked at."""


def test_uvicorn_parses_http_with_httptools() -> None:
    config = uvicorn.Config(_app, lifespan="off")
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
