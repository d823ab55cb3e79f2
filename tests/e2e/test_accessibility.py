"""Accessibility: axe-core (WCAG 2.1 A and AA rules) finds no violation on the pages people use, in English
and in Dutch. axe ships inside the axe-playwright-python package; nothing is fetched."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from imvo.platform.settings import Settings
from imvo.platform.tables import Role
from tests.e2e.conftest import CHROMIUM, Tab
from tests.helpers import PASSWORD, grant, make_covenant, make_person, totp_code

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs the system Chromium at {CHROMIUM}"),
]

WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


async def sign_in_with_password(page: Page, email: str) -> None:
    await page.goto("/sign-in")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def violations(page: Page) -> list[str]:
    results = await Axe().run(page, options=WCAG_AA)
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
    ]


async def test_signed_out_pages_have_no_accessibility_violations(open_tab: Callable[..., Awaitable[Tab]]):
    page = (await open_tab()).page
    found: list[str] = []
    for path in ("/", "/sign-in", "/password/forgot", "/no-such-page", "/?lang=nl", "/sign-in?lang=nl"):
        await page.goto(path)
        found += await violations(page)
    # A form with its error shown, too.
    await page.goto("/sign-in?lang=en")
    await page.get_by_label("E-mail address").fill("nobody@example.org")
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_role("button", name="Sign in").click()
    found += await violations(page)
    assert found == []


async def test_workspace_pages_have_no_accessibility_violations(
    open_tab: Callable[..., Awaitable[Tab]], settings: Settings
):
    person = await make_person(settings, "sam@example.org", totp=True)
    assert person.totp_seed is not None
    covenant = await make_covenant()
    await grant(person, covenant, Role.secretariat)
    page = (await open_tab()).page
    await sign_in_with_password(page, person.email)
    await page.get_by_label("Code from your authenticator app").fill(totp_code(person.totp_seed, 1))
    await page.get_by_role("button", name="Continue").click()
    await expect(page).to_have_url(re.compile(r"/$"))

    found: list[str] = []
    base = f"/c/{covenant.slug}"
    for path in (
        "/",
        base,
        f"{base}/people",
        f"{base}/settings",
        f"{base}/audit",
        "/account",
        "/account/tokens",
        "/account/two-factor",
    ):
        for lang in ("en", "nl"):
            await page.goto(f"{path}?lang={lang}")
            found += await violations(page)
    assert found == []


async def test_two_step_enrolment_page_has_no_accessibility_violations(
    open_tab: Callable[..., Awaitable[Tab]], settings: Settings
):
    person = await make_person(settings, "handler@example.org")
    covenant = await make_covenant()
    await grant(person, covenant, Role.handler)
    page = (await open_tab()).page
    await sign_in_with_password(page, person.email)
    await expect(page).to_have_url(re.compile(r"/account/two-factor$"))
    assert await violations(page) == []
