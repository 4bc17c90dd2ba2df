"""The citizen page over HTTP (/citizen): sign-in with the national eID, her dossiers, one dossier, the
tracking-code look-up for those without eID, the language switch. HTML for browsers, kept out of the
OpenAPI document (the API's callers never see it); docs/citizen-view.md says what it shows and why.

Who sees what: the list comes from intake's own table, matched on her token's personal ID exactly as
intake's API matches the applicant; a dossier page first checks that the dossier is hers (anyone else's
looks like one that does not exist), then reads the rest with her own token (sources.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Protocol
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dossierbus_intake.citizen import pages, view
from dossierbus_intake.citizen.i18n import Translator, language_of
from dossierbus_intake.citizen.pages import BASE, Chrome
from dossierbus_intake.citizen.session import (
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_MAX_AGE_S,
    CitizenSession,
    SessionSeal,
)
from dossierbus_intake.citizen.signin import OidcSignIn, ProviderUnavailable, SignInFailed
from dossierbus_intake.citizen.sources import DossierSources
from dossierbus_intake.domain.dossier import Dossier
from dossierbus_intake.tracking import tracking_secret_matches
from dossierbus_shared.auth import Caller, Role
from dossierbus_shared.calendar import WorkingCalendar
from dossierbus_shared.catalogue import Catalogue

log = logging.getLogger(__name__)

LISTED = 100
"""Her newest dossiers shown on the list."""
MAX_FORM_BYTES = 4096
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
STYLE = (resources.files("dossierbus_intake.citizen") / "citizen.css").read_text(encoding="utf-8")
LANGUAGE_MAX_AGE_S = 365 * 24 * 3600


class CitizensDossiers(Protocol):
    """What the page reads from intake's own table (Submissions does)."""

    catalogue: Catalogue
    calendar: WorkingCalendar

    async def find(self, code: str) -> Dossier | None: ...

    async def of_applicant(self, personal_id: str, limit: int) -> list[Dossier]: ...


@dataclass
class CitizenPage:
    submissions: CitizensDossiers
    seal: SessionSeal
    sign_in: OidcSignIn | None
    """None without OIDC_ISSUER: nobody can sign in (the tracking-code look-up still works)."""
    page_url: str | None = None
    """CITIZEN_PAGE_URL: the page's public URL; unset, the request's own."""
    sources: DossierSources | None = None
    """Set by bootstrap once intake's app exists (intake's own API is one of them)."""


def router(citizen: CitizenPage) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    catalogue = citizen.submissions.catalogue
    timezone = citizen.submissions.calendar.timezone

    def translator(request: Request) -> Translator:
        """The language the switch asks for (`?lang=`), else the one it asked for before, else Vietnamese."""
        asked = request.query_params.get("lang")
        return Translator(language_of(asked, request.cookies.get(LANGUAGE_COOKIE)), timezone)

    def session_of(request: Request) -> CitizenSession | None:
        return citizen.seal.open_session(request.cookies.get(SESSION_COOKIE))

    def chrome(request: Request, t: Translator, session: CitizenSession | None) -> Chrome:
        return Chrome(
            t,
            path=_switch_path(request),
            personal_id=session.personal_id if session else None,
            csrf_token=citizen.seal.csrf_token(session) if session else None,
        )

    def html(request: Request, t: Translator, body: str, status: int = 200) -> HTMLResponse:
        response = HTMLResponse(body, status_code=status)
        _protect(response)
        if request.query_params.get("lang") == t.language:  # the switch was used: remember it
            response.set_cookie(
                LANGUAGE_COOKIE,
                t.language,
                max_age=LANGUAGE_MAX_AGE_S,
                path=BASE,
                httponly=True,
                samesite="lax",
                secure=_secure(request, citizen.page_url),
            )
        return response

    def signed_out(request: Request, t: Translator, message: str | None, status: int = 200) -> HTMLResponse:
        body = pages.sign_in_page(
            chrome(request, t, None), message=message, sign_in_enabled=citizen.sign_in is not None
        )
        response = html(request, t, body, status)
        if request.cookies.get(SESSION_COOKIE):
            _forget(response, SESSION_COOKIE, request, citizen.page_url)
        return response

    @routes.get(BASE)
    @routes.get(f"{BASE}/")
    async def home(request: Request) -> Response:
        t = translator(request)
        session = session_of(request)
        if session is None:
            ended = t("session_ended") if request.cookies.get(SESSION_COOKIE) else None
            return signed_out(request, t, ended)
        dossiers = await citizen.submissions.of_applicant(session.personal_id, LISTED)
        summaries = [view.summary(dossier, catalogue) for dossier in dossiers]
        return html(request, t, pages.list_page(chrome(request, t, session), summaries, limit=LISTED))

    @routes.get(f"{BASE}/citizen.css")
    async def style() -> Response:
        return Response(STYLE, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    @routes.get(f"{BASE}/signin")
    async def sign_in(
        request: Request, return_to: Annotated[str | None, Query(max_length=500)] = None
    ) -> Response:
        t = translator(request)
        if citizen.sign_in is None:
            return signed_out(request, t, t("sign_in_unavailable"), 503)
        started = citizen.sign_in.begin(_own_path(return_to))
        try:
            url = await citizen.sign_in.authorization_url(
                started, _callback(request, citizen.page_url), t.language
            )
        except ProviderUnavailable:
            return signed_out(request, t, t("provider_unavailable"), 503)
        response = RedirectResponse(url, status_code=303)
        _protect(response)
        response.set_cookie(
            SIGN_IN_COOKIE,
            citizen.seal.seal_sign_in(started),
            max_age=SIGN_IN_MAX_AGE_S,
            path=BASE,
            httponly=True,
            # Lax: the provider sends her back with a top-level GET from its own site.
            samesite="lax",
            secure=_secure(request, citizen.page_url),
        )
        return response

    @routes.get(f"{BASE}/callback")
    async def callback(
        request: Request,
        code: Annotated[str | None, Query(max_length=2000)] = None,
        state: Annotated[str | None, Query(max_length=200)] = None,
        error: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        t = translator(request)
        started = citizen.seal.open_sign_in(request.cookies.get(SIGN_IN_COOKIE))
        if citizen.sign_in is None:
            return signed_out(request, t, t("sign_in_unavailable"), 503)
        if started is None:  # no sign-in under way in this browser, or it took too long
            return signed_out(request, t, t("sign_in_expired"), 400)
        try:
            session = await citizen.sign_in.complete(
                started,
                code=code,
                state=state,
                error=error,
                redirect_uri=_callback(request, citizen.page_url),
            )
        except SignInFailed as failed:
            log.info("citizen sign-in failed: %s", failed)
            refused = signed_out(request, t, t("sign_in_failed"), 400)
            _forget(refused, SIGN_IN_COOKIE, request, citizen.page_url)
            return refused
        except ProviderUnavailable:
            return signed_out(request, t, t("provider_unavailable"), 503)
        response = RedirectResponse(started.return_to, status_code=303)
        _protect(response)
        _forget(response, SIGN_IN_COOKIE, request, citizen.page_url)
        response.set_cookie(
            SESSION_COOKIE,
            citizen.seal.seal_session(session),
            max_age=max(session.expires_at - int(time.time()), 0),
            path=BASE,
            httponly=True,
            samesite="lax",
            secure=_secure(request, citizen.page_url),
        )
        return response

    @routes.post(f"{BASE}/signout")
    async def sign_out(request: Request) -> Response:
        session = session_of(request)
        form = await _form(request)
        if session is not None and (
            not _same_origin(request, citizen.page_url)
            or not citizen.seal.csrf_matches(session, form.get("csrf_token"))
        ):
            return _forbidden(request, translator(request))
        response = RedirectResponse(BASE, status_code=303)
        _protect(response)
        _forget(response, SESSION_COOKIE, request, citizen.page_url)
        return response

    @routes.get(f"{BASE}/dossiers/{{code}}")
    async def dossier(request: Request, code: str) -> Response:
        t = translator(request)
        session = session_of(request)
        if session is None:
            return _to_sign_in(request)
        return await _dossier_page(request, t, session, code)

    @routes.post(f"{BASE}/dossiers/{{code}}/pay")
    async def pay(request: Request, code: str) -> Response:
        t = translator(request)
        session = session_of(request)
        if session is None:
            return _to_sign_in(request)
        form = await _form(request)
        if not _same_origin(request, citizen.page_url) or not citizen.seal.csrf_matches(
            session, form.get("csrf_token")
        ):
            return _forbidden(request, t)
        if citizen.sources is None or await _own_dossier(session, code) is None:
            return await _dossier_page(request, t, session, code)
        opened = await citizen.sources.open_payment(code, session.id_token)
        if opened.outcome == "unauthenticated":
            return signed_out(request, t, t("session_ended"), 401)
        pay_url = opened.body.get("pay_url") if opened.ok and opened.body else None
        if isinstance(pay_url, str) and view.safe_payment_link(pay_url):
            # Back to her page, which now links to the platform: a form may only lead to this page's own
            # origin (form-action 'self'), and the page says what she is about to pay before she goes.
            response = RedirectResponse(f"{BASE}/dossiers/{quote(code, safe='')}#fees", status_code=303)
            _protect(response)
            return response
        reason = opened.detail or ("no fees are due" if opened.outcome == "absent" else "no payment page")
        return await _dossier_page(request, t, session, code, message=t("pay_failed", reason=reason))

    @routes.post(f"{BASE}/track")
    async def track(request: Request) -> Response:
        t = translator(request)
        if not _same_origin(request, citizen.page_url):
            return _forbidden(request, t)
        form = await _form(request)
        code = (form.get("code") or "").strip()[:40]
        found = await citizen.submissions.find(code) if code else None
        shown = (
            view.summary(found, catalogue)
            if found is not None
            and tracking_secret_matches(form.get("tracking_secret"), found.tracking_secret_sha256)
            else None
        )
        body = pages.tracked_page(chrome(request, t, session_of(request)), shown, code)
        return html(request, t, body, 200 if shown else 404)

    async def _own_dossier(session: CitizenSession, code: str) -> Dossier | None:
        found = await citizen.submissions.find(code)
        if found is None or not Caller(Role.CITIZEN, session.personal_id).is_citizen(
            found.applicant_personal_id
        ):
            return None
        return found

    async def _dossier_page(
        request: Request, t: Translator, session: CitizenSession, code: str, *, message: str | None = None
    ) -> Response:
        found = await _own_dossier(session, code)
        if found is None:  # not hers, or no such dossier: the same answer
            return html(request, t, pages.not_found_page(chrome(request, t, session), code), 404)
        assert citizen.sources is not None, "bootstrap sets the sources"
        reads = await citizen.sources.read(found.code, session.id_token)
        if reads.unauthenticated:  # her token no longer works (expired, or the issuer's keys changed)
            return signed_out(request, t, t("session_ended"), 401)
        shown = view.detail(found, reads, catalogue)
        return html(request, t, pages.dossier_page(chrome(request, t, session), shown, message=message))

    return routes


def _protect(response: Response) -> None:
    """No caching of personal pages; no framing; no script; nothing sent to result or payment hosts."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    # same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with the page's own
    # forms, and the origin check would refuse them.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"


def _forbidden(request: Request, t: Translator) -> HTMLResponse:
    response = HTMLResponse(pages.forbidden_page(Chrome(t, path=BASE)), status_code=403)
    _protect(response)
    return response


def _to_sign_in(request: Request) -> Response:
    response = RedirectResponse(
        f"{BASE}/signin?return_to={quote(request.url.path, safe='/')}", status_code=303
    )
    _protect(response)
    return response


def _switch_path(request: Request) -> str:
    """Where the language switch leads: this page when it can be asked for again (a GET of the list or a
    dossier), else the list (a form's answer, a failed sign-in)."""
    path = request.url.path
    if request.method == "GET" and (path in {BASE, f"{BASE}/"} or path.startswith(f"{BASE}/dossiers/")):
        return path
    return BASE


def _own_path(return_to: str | None) -> str:
    """Where to go once signed in: a path of this page only, never another site (an open redirect)."""
    if return_to and return_to.startswith(f"{BASE}/") and "//" not in return_to and "\\" not in return_to:
        return return_to
    return BASE


def _callback(request: Request, page_url: str | None) -> str:
    base = page_url.rstrip("/") if page_url else f"{str(request.base_url).rstrip('/')}{BASE}"
    return f"{base}/callback"


def _secure(request: Request, page_url: str | None) -> bool:
    """Secure cookies, except over plain http on a loopback address (the development stack)."""
    if page_url:
        return page_url.startswith("https://")
    return request.url.scheme == "https" or request.url.hostname not in LOOPBACK


def _same_origin(request: Request, page_url: str | None) -> bool:
    """A browser says where a POST comes from (Origin); one from another site, or `null` (a sandboxed or
    privacy-stripped origin), is refused. Browsers that send none (old ones) are let through: SameSite
    and the CSRF token still hold."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if page_url:
        own = urlsplit(page_url)
        return origin == f"{own.scheme}://{own.netloc}"
    return origin == f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def _forget(response: Response, cookie: str, request: Request, page_url: str | None) -> None:
    response.delete_cookie(
        cookie, path=BASE, httponly=True, samesite="lax", secure=_secure(request, page_url)
    )


async def _form(request: Request) -> dict[str, str]:
    """A small url-encoded form (no multipart: the page sends none)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"))
    return {name: values[0] for name, values in fields.items() if values}
