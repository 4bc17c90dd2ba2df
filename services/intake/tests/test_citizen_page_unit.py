"""The citizen page over HTTP, in process: signing in (against conftest's provider in memory), her list
and nothing of anyone else's, a dossier's page read with her own token (stub sources), the language
switch, cookies, CSRF and the tracking-code look-up."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from dossierbus_intake.citizen.session import SESSION_COOKIE, SIGN_IN_COOKIE, CitizenSession, SessionSeal
from dossierbus_intake.citizen.signin import OidcSignIn
from dossierbus_intake.citizen.sources import DossierReads, Read
from dossierbus_intake.domain.dossier import Dossier
from dossierbus_intake.entrypoints.citizen_page import CitizenPage, router
from dossierbus_intake.tracking import tracking_digest
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue

HERS, OTHERS = "001085123456", "079190654321"
KEY = "the session key"
LOCAL = "http://127.0.0.1:8001"


def kept(code: str, applicant: str, *, day: int, secret: str | None = None) -> Dossier:
    return Dossier(
        id=uuid.uuid4(),
        code=code,
        procedure_code="1.001193",
        channel="online",
        applicant_personal_id=applicant,
        submitted_at=datetime(2026, 12, day, 2, 0, tzinfo=UTC),
        due_date=date(2026, 12, day + 5),
        request_fingerprint="f",
        tracking_secret_sha256=tracking_digest(secret) if secret else None,
        status="processing",
    )


DOSSIERS = [
    kept("000.00.01.H26-261201-0001", HERS, day=1, secret="her-tracking-secret"),
    kept("000.00.01.H26-261202-0002", OTHERS, day=2),
    kept("000.00.01.H26-261203-0003", HERS, day=3),
]


@dataclass
class FakeDossiers:
    catalogue: Any = field(default_factory=default_catalogue)
    calendar: Any = field(default_factory=vietnam_calendar)

    async def find(self, code: str) -> Dossier | None:
        return next((d for d in DOSSIERS if d.code == code), None)

    async def of_applicant(self, personal_id: str, limit: int) -> list[Dossier]:
        mine = [d for d in DOSSIERS if d.applicant_personal_id == personal_id]
        return sorted(mine, key=lambda d: d.submitted_at, reverse=True)[:limit]


@dataclass
class StubSources:
    """What routing, notifications and intake's payment API answer; which token each call carried."""

    routing: Read = field(default_factory=lambda: Read("absent"))
    notifications: Read = field(default_factory=lambda: Read("ok", {"notifications": []}))
    payment: Read = field(default_factory=lambda: Read("absent"))
    opened: Read = field(default_factory=lambda: Read("absent"))
    tokens: list[tuple[str, str]] = field(default_factory=list)

    async def read(self, code: str, token: str) -> DossierReads:
        self.tokens.append((code, token))
        return DossierReads(self.routing, self.notifications, self.payment)

    async def open_payment(self, code: str, token: str) -> Read:
        self.tokens.append((code, token))
        return self.opened


@pytest.fixture
def sources() -> StubSources:
    return StubSources()


@pytest.fixture
def app(provider: Any, sources: StubSources) -> FastAPI:
    signing = OidcSignIn(provider.verifier(), client_id="dossierbus", transport=provider.transport())
    page = CitizenPage(FakeDossiers(), SessionSeal(KEY), signing, sources=sources)
    app = FastAPI()
    app.include_router(router(page))
    return app


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=LOCAL) as client:
        yield client


def session_of(personal_id: str, token: str = "her.id.token") -> tuple[CitizenSession, str]:
    session = CitizenSession(token, personal_id, int(time.time()) + 3600, "sid-" + personal_id)
    return session, SessionSeal(KEY).seal_session(session)


@pytest.fixture
def signed_in(browser: httpx.AsyncClient) -> CitizenSession:
    session, cookie = session_of(HERS)
    browser.cookies.set(SESSION_COOKIE, cookie, domain="127.0.0.1", path="/citizen")
    return session


async def test_signed_out_she_sees_how_to_sign_in_or_track_in_vietnamese(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/citizen")
    assert answer.status_code == 200
    page = answer.text
    assert '<html lang="vi">' in page and "Đăng nhập bằng định danh điện tử" in page
    assert 'action="/citizen/track"' in page and 'name="tracking_secret"' in page
    assert answer.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["referrer-policy"] == "same-origin"
    assert "<script" not in page and "http" not in page.split("<body>")[1]  # nothing loaded from elsewhere


async def test_the_language_switch_is_remembered(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/citizen", params={"lang": "en"})
    assert '<html lang="en">' in answer.text and "Sign in with your electronic ID" in answer.text
    assert 'aria-current="true">English' in answer.text
    cookie = answer.headers["set-cookie"]
    assert "dossierbus_citizen_lang=en" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert '<html lang="en">' in (await browser.get("/citizen")).text
    assert '<html lang="vi">' in (await browser.get("/citizen", params={"lang": "vi"})).text


async def test_signing_in_goes_through_the_provider_and_back_to_her_list(
    browser: httpx.AsyncClient, provider: Any
) -> None:
    started = await browser.get("/citizen/signin")
    assert started.status_code == 303
    location = started.headers["location"]
    assert location.startswith("https://eid.example.vn/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["redirect_uri"] == [f"{LOCAL}/citizen/callback"]
    assert query["code_challenge_method"] == ["S256"]
    cookie = started.headers["set-cookie"]
    assert cookie.startswith(f"{SIGN_IN_COOKIE}=") and "HttpOnly" in cookie and "Path=/citizen" in cookie
    assert "Secure" not in cookie  # plain http on loopback: development

    code, state = provider.authorize(location, HERS)
    back = await browser.get("/citizen/callback", params={"code": code, "state": state})
    assert back.status_code == 303 and back.headers["location"] == "/citizen"
    session_cookie = next(
        c for c in back.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "=")
    )
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    assert any(c.startswith(f'{SIGN_IN_COOKIE}=""') for c in back.headers.get_list("set-cookie"))

    listed = await browser.get("/citizen")
    assert "000.00.01.H26-261203-0003" in listed.text and "000.00.01.H26-261201-0001" in listed.text
    assert "000.00.01.H26-261202-0002" not in listed.text  # another citizen's
    assert listed.text.index("261203-0003") < listed.text.index("261201-0001")  # newest first
    assert "••••••••3456" in listed.text and HERS not in listed.text


async def test_a_callback_for_another_sign_in_or_without_one_signs_nobody_in(
    browser: httpx.AsyncClient, provider: Any
) -> None:
    location = (await browser.get("/citizen/signin")).headers["location"]
    code, _ = provider.authorize(location, HERS)
    refused = await browser.get("/citizen/callback", params={"code": code, "state": "forged"})
    assert refused.status_code == 400 and "Không đăng nhập được" in refused.text
    assert SESSION_COOKIE + "=" not in refused.headers.get("set-cookie", "").replace('""', "")
    browser.cookies.clear()
    lost = await browser.get("/citizen/callback", params={"code": code, "state": "x"})
    assert lost.status_code == 400 and "quá hạn" in lost.text


async def test_after_sign_in_she_returns_to_the_page_she_asked_for_and_never_elsewhere(
    browser: httpx.AsyncClient, provider: Any
) -> None:
    for asked, landed in [
        ("/citizen/dossiers/000.00.01.H26-261201-0001", "/citizen/dossiers/000.00.01.H26-261201-0001"),
        ("https://evil.example/", "/citizen"),
        ("//evil.example/citizen/", "/citizen"),
        ("/citizen/..//evil.example", "/citizen"),
    ]:
        location = (await browser.get("/citizen/signin", params={"return_to": asked})).headers["location"]
        code, state = provider.authorize(location, HERS)
        back = await browser.get("/citizen/callback", params={"code": code, "state": state})
        assert back.headers["location"] == landed, asked


async def test_a_dossier_page_needs_a_session(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/citizen/dossiers/000.00.01.H26-261201-0001")
    assert answer.status_code == 303
    assert (
        answer.headers["location"] == "/citizen/signin?return_to=/citizen/dossiers/000.00.01.H26-261201-0001"
    )


async def test_her_dossier_is_read_with_her_own_token(
    browser: httpx.AsyncClient, signed_in: CitizenSession, sources: StubSources
) -> None:
    sources.routing = Read(
        "ok",
        {
            "status": "processing",
            "due_date": "2026-12-08",
            "agency_code": "justice-hanoi",
            "deadline": {"original_due_date": "2026-12-06"},
            "steps": [{"step": "birth-registration", "agency_code": "justice-hanoi", "status": "processing"}],
            "timeline": [],
        },
    )
    sources.payment = Read(
        "ok",
        {
            "amount_vnd": 8000,
            "fees": [{"step": "birth-registration", "agency_code": "justice-hanoi", "fee_vnd": 8000}],
            "state": "awaiting_payment",
            "pay_url": None,
            "receipt": None,
            "refund": None,
        },
    )
    answer = await browser.get("/citizen/dossiers/000.00.01.H26-261201-0001", params={"lang": "en"})
    assert answer.status_code == 200
    assert sources.tokens == [("000.00.01.H26-261201-0001", signed_in.id_token)]
    page = answer.text
    assert "<h1>Dossier 000.00.01.H26-261201-0001</h1>" in page
    assert "Being processed" in page and "2026-12-08" in page and "Originally due: 2026-12-06" in page
    assert "8,000 VND" in page and "Awaiting payment" in page and 'action="/citizen/dossiers/' in page
    assert "No result yet." in page and "No notification yet." in page


async def test_anothers_dossier_is_not_found_and_nothing_is_read_for_it(
    browser: httpx.AsyncClient, signed_in: CitizenSession, sources: StubSources
) -> None:
    for code in ("000.00.01.H26-261202-0002", "000.00.01.H26-000000-9999"):
        answer = await browser.get(f"/citizen/dossiers/{code}")
        assert answer.status_code == 404 and "Không tìm thấy hồ sơ" in answer.text
    assert sources.tokens == []


async def test_a_token_the_services_no_longer_take_ends_the_session(
    browser: httpx.AsyncClient, signed_in: CitizenSession, sources: StubSources
) -> None:
    sources.routing = Read("unauthenticated")
    answer = await browser.get("/citizen/dossiers/000.00.01.H26-261201-0001")
    assert answer.status_code == 401 and "Phiên đăng nhập đã hết hạn" in answer.text
    assert answer.headers["set-cookie"].startswith(f'{SESSION_COOKIE}=""')


async def test_an_expired_or_forged_session_is_no_session(browser: httpx.AsyncClient) -> None:
    stale = CitizenSession("t", HERS, int(time.time()) - 1, "sid")
    browser.cookies.set(
        SESSION_COOKIE, SessionSeal(KEY).seal_session(stale), domain="127.0.0.1", path="/citizen"
    )
    answer = await browser.get("/citizen")
    assert "Phiên đăng nhập đã hết hạn" in answer.text and "261201" not in answer.text
    browser.cookies.set(SESSION_COOKIE, "forged", domain="127.0.0.1", path="/citizen")
    assert "261201" not in (await browser.get("/citizen")).text


async def test_signing_out_needs_the_sessions_csrf_token_and_its_own_origin(
    browser: httpx.AsyncClient, signed_in: CitizenSession
) -> None:
    seal = SessionSeal(KEY)
    assert (await browser.post("/citizen/signout", data={})).status_code == 403
    assert (await browser.post("/citizen/signout", data={"csrf_token": "guess"})).status_code == 403
    token = seal.csrf_token(signed_in)
    elsewhere = await browser.post(
        "/citizen/signout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    hidden = await browser.post("/citizen/signout", data={"csrf_token": token}, headers={"Origin": "null"})
    assert hidden.status_code == 403
    out = await browser.post("/citizen/signout", data={"csrf_token": token}, headers={"Origin": LOCAL})
    assert out.status_code == 303 and out.headers["set-cookie"].startswith(f'{SESSION_COOKIE}=""')
    assert "261201" not in (await browser.get("/citizen")).text


async def test_paying_opens_the_payment_with_her_token_then_her_page_links_to_the_platform(
    browser: httpx.AsyncClient, signed_in: CitizenSession, sources: StubSources
) -> None:
    token = SessionSeal(KEY).csrf_token(signed_in)
    path = "/citizen/dossiers/000.00.01.H26-261201-0001/pay"
    assert (await browser.post(path, data={})).status_code == 403
    sources.opened = Read("ok", {"state": "pending", "pay_url": "https://pay.example.vn/p/1"})
    opened = await browser.post(path, data={"csrf_token": token})
    assert opened.status_code == 303
    assert opened.headers["location"] == "/citizen/dossiers/000.00.01.H26-261201-0001#fees"
    assert sources.tokens[-1] == ("000.00.01.H26-261201-0001", signed_in.id_token)
    sources.payment = Read(
        "ok",
        {"amount_vnd": 8000, "fees": [], "state": "pending", "pay_url": "https://pay.example.vn/p/1"},
    )
    page = (await browser.get("/citizen/dossiers/000.00.01.H26-261201-0001")).text
    assert 'id="pay-link" href="https://pay.example.vn/p/1"' in page and 'id="pay"' not in page

    sources.opened = Read("ok", {"state": "pending", "pay_url": "javascript:alert(1)"})
    unsafe = await browser.post(path, data={"csrf_token": token})
    assert unsafe.status_code == 200 and "Chưa mở được thanh toán" in unsafe.text

    count = len(sources.tokens)
    others = await browser.post("/citizen/dossiers/000.00.01.H26-261202-0002/pay", data={"csrf_token": token})
    assert others.status_code == 404 and len(sources.tokens) == count


async def test_without_eid_the_tracking_code_shows_status_and_appointment(browser: httpx.AsyncClient) -> None:
    found = await browser.post(
        "/citizen/track",
        data={"code": "000.00.01.H26-261201-0001", "tracking_secret": "her-tracking-secret"},
        params={"lang": "en"},
    )
    assert found.status_code == 200
    assert "Being processed" in found.text and "2026-12-06" in found.text
    wrong = await browser.post(
        "/citizen/track", data={"code": "000.00.01.H26-261201-0001", "tracking_secret": "guess"}
    )
    # In English still: the switch was remembered.
    assert wrong.status_code == 404 and "No dossier has this dossier code and tracking code." in wrong.text
    assert "her-tracking-secret" not in wrong.text
    elsewhere = await browser.post(
        "/citizen/track",
        data={"code": "000.00.01.H26-261201-0001", "tracking_secret": "her-tracking-secret"},
        headers={"Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403


async def test_cookies_are_secure_off_loopback(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://dichvucong.example.gov.vn") as client:
        started = await client.get("/citizen/signin")
    assert "Secure" in started.headers["set-cookie"]
    assert parse_qs(urlsplit(started.headers["location"]).query)["redirect_uri"] == [
        "https://dichvucong.example.gov.vn/citizen/callback"
    ]


async def test_without_an_eid_issuer_signing_in_is_said_to_be_off(sources: StubSources) -> None:
    app = FastAPI()
    app.include_router(router(CitizenPage(FakeDossiers(), SessionSeal(KEY), None, sources=sources)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=LOCAL) as client:
        home = await client.get("/citizen")
        started = await client.get("/citizen/signin")
    assert "chưa được cấu hình" in home.text and 'id="sign-in"' not in home.text
    assert started.status_code == 503


async def test_the_style_sheet_is_served_by_the_page_itself(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/citizen/citizen.css")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/css")
    assert "@import" not in answer.text and "url(" not in answer.text
