"""The console page in headless Chromium (Debian's, driven by Playwright) on the whole stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, expect

from dossierbus_console.login import COOKIE
from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import birth_registration, submit, wait_final, wait_for_notifications
from dossierbus_devstack.stack import DevStack

pytestmark = pytest.mark.slow
# Generous waits: the suite shares two cores with the whole stack.
expect.set_options(timeout=20_000)


@pytest.fixture
async def anonymous(stack: DevStack, chromium: Browser) -> AsyncIterator[Page]:
    """A browser tab that has not logged in."""
    context = await chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        await context.close()
    assert not errors, f"the page raised: {errors}"


async def log_in(page: Page, token: str) -> None:
    await page.fill("#token", token)
    await page.click("#login-form button[type=submit]")


@pytest.fixture
async def page(stack: DevStack, anonymous: Page) -> Page:
    """The console, logged in as an operator."""
    await anonymous.goto(stack.url("console", "/"))
    await expect(anonymous).to_have_url(stack.url("console", "/login"))
    await log_in(anonymous, stack.operator_token)
    await expect(anonymous).to_have_url(stack.url("console", "/"))
    await expect(anonymous.locator("#dossier-form")).to_be_visible()
    # The page's script binds its forms after the page shows; a search sent before would reload the page.
    await expect(anonymous.locator("body[data-ready=true]")).to_have_count(1)
    return anonymous


async def test_without_a_login_the_console_shows_only_the_login(stack: DevStack, anonymous: Page) -> None:
    for path in ("/", "/?dossier=000.00.01.H26-261126-0001", "/console.js"):
        await anonymous.goto(stack.url("console", path))
        await expect(anonymous).to_have_url(stack.url("console", "/login"))
    await log_in(anonymous, "not-the-token")
    await expect(anonymous.locator("[role=alert]")).to_contain_text("Wrong operator token")
    for path in ("/api/queues", "/api/dlq/dossier.verified.dlq"):
        response = await anonymous.request.get(stack.url("console", path))
        assert response.status == 401, path
    assert not [cookie for cookie in await anonymous.context.cookies() if cookie["name"] == COOKIE]


async def test_the_session_cookie_is_hidden_from_scripts_and_other_sites(stack: DevStack, page: Page) -> None:
    [cookie] = [cookie for cookie in await page.context.cookies() if cookie["name"] == COOKIE]
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    assert cookie["expires"] > 0  # a lasting login expires; not a browser-session cookie
    assert COOKIE not in await page.evaluate("document.cookie")
    # The page's own script without the session's CSRF token cannot replay; nor can another site's page.
    status = await page.evaluate(
        """fetch("api/dlq/dossier.verified.dlq/replay", {method: "POST",
             headers: {"content-type": "application/json"}, body: JSON.stringify({event_id: "x"})})
           .then((response) => response.status)"""
    )
    assert status == 403

    await page.click("#logout-form button[type=submit]")
    await expect(page).to_have_url(stack.url("console", "/login"))
    assert (await page.request.get(stack.url("console", "/api/queues"))).status == 401


async def test_a_dossier_shows_its_timeline_with_trace_links(
    stack: DevStack, http: httpx.AsyncClient, page: Page
) -> None:
    code = (await submit(http, stack, birth_registration(20)))["dossier_code"]
    routed = await wait_final(http, stack, code)
    sent = await wait_for_notifications(http, stack, code, count=4)

    await page.fill("#dossier-code", code)
    await page.click("#dossier-form button[type=submit]")
    await expect(page.locator("#dossier-summary")).to_contain_text(code)
    await expect(page.locator("#dossier-summary")).to_contain_text("returned")
    rows = page.locator("#timeline tbody tr")
    await expect(rows).to_have_count(len(routed["timeline"]))
    await expect(rows.first).to_contain_text("submitted")
    await expect(page.locator("#timeline")).to_contain_text("justice-hanoi")
    await expect(page.locator("#notifications tbody tr")).to_have_count(len(sent))
    await expect(page.locator("#notifications")).to_contain_text(str(sent[0]["subject"]))

    trace_id = routed["timeline"][0]["trace_id"]
    link = page.locator("#timeline tbody tr").first.locator("a.trace")
    await expect(link).to_have_attribute("data-trace-id", trace_id)
    await expect(link).to_have_attribute("href", f"http://localhost:16686/trace/{trace_id}")
    assert trace_id in {span["trace_id"] for span in await stack.spans_for(code)}

    # The waterfall beside the timeline: a bar per span, by service and agency hop, and nothing awaited.
    await page.fill("#dossier-code", code)
    await page.click("#dossier-form button[type=submit]")  # again, now that every span is written
    spans = page.locator("#waterfall tbody tr.span")
    await expect(spans.first).to_be_visible()
    for service in ("intake", "registry", "routing", "notifications"):
        await expect(page.locator("#waterfall tbody")).to_contain_text(service)
    await expect(page.locator("#waterfall tbody")).to_contain_text("justice-hanoi")
    await expect(spans.first).to_have_attribute("data-trace-id", trace_id)
    assert await spans.first.locator(".span-bar").count() == 1
    await expect(page.locator("#trace-summary")).to_contain_text("spans in")
    await expect(page.locator("#trace-waiting")).to_contain_text("Finished")


async def test_an_unknown_code_says_so(page: Page) -> None:
    await page.fill("#dossier-code", "000.00.01.H26-000000-0000")
    await page.click("#dossier-form button[type=submit]")
    error = page.locator("#dossier-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("Unknown dossier")
    await expect(error).to_contain_text("000.00.01.H26-000000-0000")
    await expect(page.locator("#dossier-result")).to_be_hidden()

    await page.fill("#dossier-code", "no such/code")
    await page.click("#dossier-form button[type=submit]")
    await expect(error).to_contain_text("Invalid request")
    await expect(error).to_contain_text("(code)")


async def test_topics_and_consumer_lag_are_listed(
    stack: DevStack, http: httpx.AsyncClient, page: Page
) -> None:
    await wait_final(http, stack, (await submit(http, stack, birth_registration(21)))["dossier_code"])
    await page.click("#queues-refresh")
    topics = page.locator("#topics tbody")
    await expect(topics.locator("tr", has_text="dossier.submitted").first).to_be_visible()
    await expect(topics).to_contain_text("agency.justice-hanoi.reports")
    lag = page.locator("#lag tbody")
    registry = lag.locator("tr", has_text="dossierbus.registry").filter(has_text="dossier.submitted")
    await expect(registry.first).to_be_visible()
    await expect(page.locator("#dlq-topics tbody")).to_contain_text("dossier.submitted.dlq")


async def test_a_dead_letter_is_listed_and_replayed(stack: DevStack, page: Page, put_malformed: Any) -> None:
    event_id = await put_malformed("CONSOLE-BROWSER-1")
    letters = page.locator(f'#letters tbody tr[data-event-id="{event_id}"]')
    await page.locator("#dlq-topics tr", has_text="dossier.verified.dlq").get_by_role("button").click()

    async def listed(count: int) -> None:
        """The open DLQ lists `count` letters of the event (routing dead-letters it); if not, Refresh,
        which reloads the open DLQ too."""
        if await letters.count() != count:
            await page.click("#queues-refresh")
            raise AssertionError(f"not {count} letter(s) of {event_id} yet")

    await eventually(lambda: listed(1), interval_s=0.3)
    await expect(letters).to_have_count(1)
    await expect(letters).to_contain_text("CONSOLE-BROWSER-1")
    await expect(letters).to_contain_text("dossierbus.routing")
    await expect(letters).to_contain_text("JSON")

    result = page.locator("#replay-result")
    await letters.first.get_by_role("button", name="Replay").click()
    await expect(result).to_contain_text(f"Replayed 1 letter(s) of event {event_id} to dossier.verified")
    # Still not JSON, the replayed record is dead-lettered again: a second letter of the same event.
    await eventually(lambda: listed(2), interval_s=0.3)
    await expect(letters).to_have_count(2)


async def test_the_766_dashboard_renders(stack: DevStack, http: httpx.AsyncClient, page: Page) -> None:
    routing = await http.get(stack.url("routing", "/indicators"))
    section = page.locator("#indicators")
    if routing.status_code == 404:
        await expect(section.locator("#indicators-message")).to_contain_text("not available")
        await expect(section.locator("#indicators-content")).to_be_hidden()
        return
    await expect(section.locator("#indicator-charts svg").first).to_be_visible()
    await expect(section.locator("#indicator-table tbody tr")).to_have_count(
        len(routing.json()["indicators"])
    )


async def test_the_766_charts_draw_the_documented_shape(page: Page) -> None:
    """The page given the documented /indicators shape draws one chart per measure and one row per pair."""
    indicators = {
        "indicators": [
            {
                "agency": "justice-hanoi",
                "procedure": "1.001193",
                "received": 12,
                "processed": 10,
                "on_time_rate": 0.9,
                "online_rate": 0.75,
                "digitised_rate": 0.5,
                "satisfaction_average": 4.2,
            },
            {
                "agency": "planning-investment-hanoi",
                "procedure": "business-registration-change",
                "received": 3,
                "processed": 0,
                "on_time_rate": None,
                "online_rate": 1.0,
                "digitised_rate": None,
                "satisfaction_average": None,
            },
        ]
    }

    async def serve(route: Route) -> None:
        await route.fulfill(json=indicators)

    await page.route("**/api/indicators", serve)
    await page.reload()
    charts = page.locator("#indicator-charts figure.chart")
    await expect(charts).to_have_count(6)
    await expect(charts.locator("svg")).to_have_count(6)
    on_time = charts.filter(has_text="On time")
    await expect(on_time.locator("rect.bar")).to_have_count(1)  # the unmeasured rate draws no bar
    await expect(on_time).to_contain_text("90.0 %")
    rows = page.locator("#indicator-table tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("justice-hanoi")
    await expect(rows.nth(1)).to_contain_text("–")
