"""Machine-readable HTTP errors (RFC 9457 problem details) for every service."""

from __future__ import annotations

from typing import Any

import asyncpg.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from dossierbus_shared.db.outage import database_unreachable

PROBLEM_JSON = "application/problem+json"
DATABASE_RETRY_AFTER_S = 5
"""What a 503 for an unreachable database asks the caller to wait, in seconds: about a restart's time."""


class ProblemError(Exception):
    """Raise from a handler to answer with a problem document."""

    def __init__(
        self, status: int, title: str, detail: str, *, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []


def problem(status: int, title: str, detail: str, errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def field_errors(raw: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors as {field, message, type}; `field` is a dotted path into the request."""
    errors = []
    for item in raw:
        location, *path = item["loc"] or ("body",)
        errors.append(
            {
                "field": ".".join(str(part) for part in path),
                "location": str(location),
                "message": item["msg"],
                "type": item["type"],
            }
        )
    return errors


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = field_errors(list(error.errors()))
        fields = ", ".join(sorted({item["field"] or item["location"] for item in errors}))
        return problem(422, "Invalid request", f"invalid or missing: {fields}", errors)

    @app.exception_handler(ProblemError)
    async def domain_problem(_: Request, error: ProblemError) -> JSONResponse:
        return problem(error.status, error.title, error.detail, error.errors)

    @app.exception_handler(HTTPException)
    async def http_problem(_: Request, error: HTTPException) -> JSONResponse:
        return problem(error.status_code, str(error.detail), str(error.detail))

    # What the database driver raises when the database is out of reach: a 503 the caller can retry.
    # Anything else of these kinds is a fault of the request's handling and stays a 500.
    async def database_outage(_: Request, error: Exception) -> JSONResponse:
        if not database_unreachable(error):
            raise error
        detail = f"the database is unreachable; try again in {DATABASE_RETRY_AFTER_S} s"
        response = problem(503, "Service unavailable", detail)
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response

    for kind in (OSError, sqlalchemy.exc.SQLAlchemyError, asyncpg.exceptions.PostgresError):
        app.add_exception_handler(kind, database_outage)
