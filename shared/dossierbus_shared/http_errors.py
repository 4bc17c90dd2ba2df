"""Machine-readable HTTP errors (RFC 9457 problem details) for every service.

`install_error_handlers(app)` gives an app, before its routes are added: problem documents for invalid
requests (422 naming each field), for `ProblemError` and for HTTP errors; the refusal of text no service
can store (http_input.py); 503 with Retry-After when the database cannot take more work; and, for
anything else, a 500 problem document that says nothing about the fault, which is logged by its type
and frames only (safe_errors.py). It also documents the status codes every operation may answer
(422, 500, 503); `problem_responses(...)` documents a route's own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dossierbus_shared.http_input import refuse_unsafe_text
from dossierbus_shared.outages import is_outage
from dossierbus_shared.safe_errors import outline, type_name

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_S = 2
"""What a 503 asks the caller to wait before trying again, in seconds."""

log = logging.getLogger(__name__)


class ProblemError(Exception):
    """Raise from a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.headers = dict(headers or {})


class FieldProblem(BaseModel):
    field: str = Field(description="Dotted path of the field in its location, e.g. `applicant.full_name`")
    location: str | None = Field(default=None, description="`body`, `path`, `query` or `header`")
    message: str
    type: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem document (`application/problem+json`)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(default=None, description="Each offending field (422)")


STATUS_DESCRIPTIONS = {
    400: "The request could not be read (e.g. a body that is not JSON)",
    401: "No valid credentials",
    403: "The caller may not do this",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "The request body is larger than the service reads (HTTP_MAX_BODY_BYTES, 1 MiB by default)",
    422: "Invalid request: `errors[]` names each offending field",
    500: "Unexpected failure; the answer says nothing more and the fault is logged",
    503: "Temporarily unable to answer (e.g. every database connection busy); retry after `Retry-After` s",
}


def problem_responses(
    *statuses: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for problem documents: `problem_responses(404, 409)`, with descriptions of
    one's own where the usual ones say too little: `described={409: "Already rated"}`."""
    descriptions = {**{status: STATUS_DESCRIPTIONS[status] for status in statuses}, **(described or {})}
    return {status: {"model": Problem, "description": text} for status, text in descriptions.items()}


COMMON_RESPONSES = problem_responses(400, 413, 422, 500, 503)
"""What any operation of any service may answer."""


def problem(
    status: int,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def unavailable() -> JSONResponse:
    return problem(
        503,
        "Service unavailable",
        f"the database is busy or out of reach; try again in {RETRY_AFTER_S} s",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


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


class UnexpectedErrors:
    """Answers what no handler answered: 503 with Retry-After when the database cannot take more work,
    otherwise 500 with a problem document that says nothing about the fault. The fault is logged by its
    type, route and frames, never its message (which may quote the request's personal data), and not
    raised further (the server would log it whole)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as error:
            route = getattr(scope.get("route"), "path", "(no route)")
            if is_outage(error):
                log.warning("%s %s: database unavailable (%s)", scope["method"], route, type_name(error))
                response = unavailable()
            else:
                log.error("%s %s failed: %s", scope["method"], route, outline(error))
                response = problem(500, "Internal error", "the request could not be completed")
            if not started:
                await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Call before adding routes: the input checks and documented answers apply to routes added after."""
    app.router.dependencies.append(Depends(refuse_unsafe_text))
    app.router.responses = {**COMMON_RESPONSES, **app.router.responses}
    app.add_middleware(UnexpectedErrors)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = field_errors(list(error.errors()))
        fields = ", ".join(sorted({item["field"] or item["location"] for item in errors}))
        return problem(422, "Invalid request", f"invalid or missing: {fields}", errors)

    @app.exception_handler(ProblemError)
    async def domain_problem(_: Request, error: ProblemError) -> JSONResponse:
        return problem(error.status, error.title, error.detail, error.errors, headers=error.headers)

    @app.exception_handler(HTTPException)
    async def http_problem(_: Request, error: HTTPException) -> JSONResponse:
        return problem(error.status_code, str(error.detail), str(error.detail), headers=error.headers)
