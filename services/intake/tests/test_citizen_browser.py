"""The citizen page in headless Chromium (Debian's, driven by Playwright) on the whole stack: a seeded
citizen signs in at the stack's OpenID provider (oidc-provider-mock) by the authorization-code flow with
PKCE, sees her dossier and not another citizen's, opens it, and switches language."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from dossierbus_devstack.identity import register_citizen
from dossierbus_devstack.scenarios import birth_registration, submit, wait_final, wait_for_notifications
from dossierbus_devstack.stack import DevStack
from dossierbus_intake.citizen.session import SESSION_COOKIE

pytestmark = pytest.mark.slow
# Generous waits: the suite shares two cores with the whole stack.
expect.set_options(timeout=20_000)

# Seeded citizens (dossierbus_devstack.scenarios) no other test submits for.
HER, SOMEONE_ELSE = 731, 732


@pytest.fixture
async def tab(stack: DevStack, chromium: Browser) -> AsyncIterator[Page]:
    context = await chromium.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        await context.close()
    assert not errors, f"the page raised: {errors}"


async def test_a_citizen_signs_in_and_sees_her_own_dossier_in_both_languages(
    stack: DevStack, http: httpx.AsyncClient, tab: Page
) -> None:
    hers_body, others_body = birth_registration(HER), birth_registration(SOMEONE_ELSE)
    hers = (await submit(http, stack, hers_body))["dossier_code"]
    others = (await submit(http, stack, others_body))["dossier_code"]
    routed = await wait_final(http, stack, hers)
    sent = await wait_for_notifications(http, stack, hers, count=4)
    subject = await register_citizen(stack.identity.issuer, hers_body["applicant"]["personal_id"])

    # Signed out, in Vietnamese, with the way to follow a dossier without eID.
    await tab.goto(stack.url("intake", "/citizen"))
    await expect(tab.locator("html")).to_have_attribute("lang", "vi")
    await expect(tab.locator("h1")).to_have_text("Tra cứu hồ sơ của tôi")
    await expect(tab.locator("#track")).to_be_visible()

    # The eID provider's page, then back to her list.
    await tab.click("#sign-in")
    await expect(tab).to_have_url(
        re.compile(re.escape(f"{stack.identity.issuer}/oauth2/authorize?") + ".*S256")
    )
    await tab.locator("input[name=sub]").fill(subject)
    await tab.get_by_role("button", name="Authorize").first.click()
    await expect(tab).to_have_url(stack.url("intake", "/citizen"))
    await expect(tab.locator(f'#dossiers tr[data-code="{hers}"]')).to_be_visible()
    await expect(tab.locator(f'#dossiers tr[data-code="{others}"]')).to_have_count(0)
    assert others not in await tab.content()
    [cookie] = [c for c in await tab.context.cookies() if c["name"] == SESSION_COOKIE]
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Lax")
    assert SESSION_COOKIE not in await tab.evaluate("document.cookie")

    # Her dossier: status, steps, due date, fees, results, notifications, read with her own token.
    await tab.get_by_role("link", name=hers).click()
    await expect(tab.locator("h1")).to_have_text(f"Hồ sơ {hers}")
    await expect(tab.locator("#facts .status")).to_have_text("Đã trả kết quả")
    await expect(tab.locator("#steps tbody tr")).to_have_count(len(routed["steps"]))
    await expect(tab.locator("#fees")).to_contain_text("không phải nộp phí")
    await expect(tab.locator("#notifications tbody tr")).to_have_count(
        len([n for n in sent if n["channel"] != "webhook"])
    )
    documents = [d for step in routed["steps"] for d in step["result_documents"]]
    await expect(tab.locator("#results a")).to_have_count(len(documents))

    # English, remembered from page to page.
    await tab.get_by_role("link", name="English").click()
    await expect(tab.locator("html")).to_have_attribute("lang", "en")
    await expect(tab.locator("h1")).to_have_text(f"Dossier {hers}")
    await expect(tab.locator("#facts .status")).to_have_text("Result returned")
    await tab.get_by_role("link", name="All my dossiers").click()
    await expect(tab.locator("h1")).to_have_text("My dossiers")

    # Another citizen's dossier, asked for by its code, is not there for her.
    answer = await tab.goto(stack.url("intake", f"/citizen/dossiers/{others}"))
    assert answer is not None and answer.status == 404
    await expect(tab.locator("h1")).to_have_text("Dossier not found")

    # Signing out ends the session.
    await tab.goto(stack.url("intake", "/citizen"))
    await tab.get_by_role("button", name="Sign out").click()
    await expect(tab.locator("h1")).to_have_text("Follow my dossiers")
    assert not [c for c in await tab.context.cookies() if c["name"] == SESSION_COOKIE]
