"""Operator login: every page and /api call of the console needs an operator.

A browser logs in once with the OPERATOR_TOKEN on /login and then carries a session cookie: HttpOnly (no
script reads it), SameSite=Strict (no other site's page sends it), Secure when served over https, signed
with a key derived from the OPERATOR_TOKEN (rotating the token ends every session) and expiring after
SESSION_MAX_AGE_S. An API client sends `Authorization: Bearer <OPERATOR_TOKEN>` instead. A call that
changes the bus (DLQ replay) made with the cookie must also carry the session's CSRF token in
`X-CSRF-Token`, which only the console's own page can read (from /api/config).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from dossierbus_console.settings import ConsoleSettings
from dossierbus_shared.http_errors import problem

COOKIE = "dossierbus_console_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = frozenset({"/login", "/logout", "/healthz", "/readyz", "/metrics", "/console.css"})
"""What answers without a login: the login itself, probes, metrics and the login page's style sheet."""
MAX_FORM_BYTES = 4096


class Sessions:
    """Issues and checks the signed session cookie and its CSRF token."""

    def __init__(self, operator_token: str | None, max_age_s: int) -> None:
        self._token = operator_token.encode() if operator_token else None
        self._key = (
            hmac.new(self._token, b"dossierbus-console-session-v1", hashlib.sha256).digest()
            if self._token
            else None
        )
        self.max_age_s = max_age_s

    @property
    def enabled(self) -> bool:
        """Without an OPERATOR_TOKEN nobody can log in."""
        return self._key is not None

    def is_operator_token(self, given: str) -> bool:
        # As bytes: compare_digest refuses str that is not ASCII, and a header may hold anything.
        return self._token is not None and hmac.compare_digest(given.encode(), self._token)

    def issue(self, now: float | None = None) -> str:
        expires = int(now if now is not None else time.time()) + self.max_age_s
        payload = f"{expires}.{secrets.token_urlsafe(16)}"
        return f"{payload}.{self._mac('session', payload)}"

    def valid(self, value: str, now: float | None = None) -> bool:
        if self._key is None:
            return False
        payload, _, mac = value.rpartition(".")
        expires, _, _ = payload.partition(".")
        if not payload or not hmac.compare_digest(mac.encode(), self._mac("session", payload).encode()):
            return False
        return expires.isdigit() and int(expires) > (now if now is not None else time.time())

    def csrf_token(self, session: str) -> str:
        return self._mac("csrf", session)

    def _mac(self, purpose: str, payload: str) -> str:
        assert self._key is not None
        return hmac.new(self._key, f"{purpose}:{payload}".encode(), hashlib.sha256).hexdigest()


def how_authenticated(request: Request, sessions: Sessions) -> str | None:
    """ "bearer", "session", or None for a caller that is not an operator."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and sessions.is_operator_token(given.strip()):
        return "bearer"
    cookie = request.cookies.get(COOKIE)
    if cookie and sessions.valid(cookie):
        return "session"
    return None


def install_login(app: FastAPI, settings: ConsoleSettings) -> Sessions:
    """The login and logout routes, and the guard in front of everything else."""
    token = settings.operator_token.get_secret_value() if settings.operator_token else None
    sessions = Sessions(token, settings.session_max_age_s)

    @app.middleware("http")
    async def operators_only(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if path in OPEN_PATHS:
            return await call_next(request)
        how = how_authenticated(request, sessions)
        is_api = path == "/api" or path.startswith("/api/")
        if how is None:
            if not is_api:
                return RedirectResponse("/login", status_code=303)
            response = problem(
                401,
                "Unauthorized",
                "the console needs an operator: log in on /login, or send Authorization: Bearer <token>",
            )
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        if how == "session" and request.method not in SAFE_METHODS:
            given = request.headers.get(CSRF_HEADER, "")
            expected = sessions.csrf_token(request.cookies[COOKIE])
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return problem(403, "Forbidden", f"a change made with the session needs its {CSRF_HEADER}")
        request.state.operator_session = request.cookies.get(COOKIE) if how == "session" else None
        return await call_next(request)

    @app.get("/login", include_in_schema=False)
    async def login_page() -> HTMLResponse:
        return _login_page(sessions, None)

    @app.post("/login", include_in_schema=False)
    async def log_in(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin != _own_origin(request):
            return _login_page(sessions, "Log in from the console's own page.", status=403)
        body = await request.body()
        fields = (
            parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace")) if len(body) <= MAX_FORM_BYTES else {}
        )
        given = (fields.get("token") or [""])[0].strip()
        if not sessions.enabled:
            return _login_page(sessions, None, status=403)
        if not sessions.is_operator_token(given):
            return _login_page(sessions, "Wrong operator token.", status=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE,
            sessions.issue(),
            max_age=sessions.max_age_s,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.post("/logout", include_in_schema=False)
    async def log_out() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return sessions


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def _login_page(sessions: Sessions, error: str | None, *, status: int = 200) -> HTMLResponse:
    if not sessions.enabled:
        message = (
            '<p class="error" role="alert">Login is disabled: this console has no OPERATOR_TOKEN set.</p>'
        )
        status = 403 if status == 200 else status
    elif error:
        message = f'<p class="error" role="alert">{html.escape(error)}</p>'
    else:
        message = ""
    page = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>dossierbus console: log in</title>
  <link rel="stylesheet" href="console.css">
</head>
<body>
  <header><h1>dossierbus console</h1></header>
  <main>
    <section aria-labelledby="login-title">
      <h2 id="login-title">Operator login</h2>
      {message}
      <form id="login-form" method="post" action="/login" class="inline">
        <label for="token">Operator token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
        <button type="submit">Log in</button>
      </form>
    </section>
  </main>
</body>
</html>
"""
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})
