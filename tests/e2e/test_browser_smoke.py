"""Smoke tests in a real browser: what a person does first, over real HTTP, with and without JavaScript."""

from __future__ import annotations

import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import expect

from imvo.platform.i18n import gettext
from imvo.platform.settings import Settings
from imvo.platform.tables import Role
from tests.e2e.conftest import CHROMIUM, Tab
from tests.helpers import PASSWORD, grant, make_covenant, make_person, totp_code

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs the system Chromium at {CHROMIUM}"),
]

LEAD_SCREENSHOT = Path("/tmp/e2e-smoke.png")  # noqa: S108  (a copy for people to look at)


async def test_secretariat_signs_in_with_totp_switches_to_dutch_and_signs_out(
    open_tab: Callable[..., Awaitable[Tab]], settings: Settings, tmp_path: Path
) -> None:
    person = await make_person(settings, "sam@example.org", totp=True)
    assert person.totp_seed is not None
    covenant = await make_covenant()
    await grant(person, covenant, Role.secretariat)
    tab = await open_tab()
    page = tab.page

    await page.goto("/sign-in")
    await page.get_by_label("E-mail address").fill(person.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/sign-in/two-step$"))
    # One step ahead: the current step was spent confirming the enrolment.
    await page.get_by_label("Code from your authenticator app").fill(totp_code(person.totp_seed, 1))
    await page.get_by_role("button", name="Continue").click()
    await expect(page).to_have_url(re.compile(r"/$"))
    await expect(page.get_by_role("link", name=re.compile(covenant.name))).to_be_visible()
    await expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()

    await page.locator("footer").get_by_role("link", name="Nederlands").click()
    await expect(page.locator("html")).to_have_attribute("lang", "nl")
    dutch_sign_out = gettext("nl", "Sign out")
    assert dutch_sign_out != "Sign out", "the nl catalogue lacks 'Sign out', so the page cannot show Dutch"
    sign_out = page.get_by_role("button", name=dutch_sign_out, exact=True)
    await expect(sign_out).to_be_visible()

    await page.get_by_role("link", name=re.compile(covenant.name)).click()
    await expect(page).to_have_url(re.compile(rf"/c/{covenant.slug}/?$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(covenant.name)
    await expect(page.locator("html")).to_have_attribute("lang", "nl")  # the choice is kept

    await sign_out.click()
    await expect(page).to_have_url(re.compile(r"/sign-in\?signed_out=1$"))
    await expect(page.get_by_role("button", name=gettext("nl", "Sign in"), exact=True)).to_be_visible()
    await page.goto("/")
    await expect(page.get_by_text(covenant.name)).to_have_count(0)
    await expect(page.get_by_role("button", name=gettext("nl", "Sign out"))).to_have_count(0)

    await page.screenshot(path=tmp_path / "smoke.png", full_page=True)
    shutil.copyfile(tmp_path / "smoke.png", LEAD_SCREENSHOT)
    assert tab.problems() == []


async def test_sign_in_form_works_without_javascript(
    open_tab: Callable[..., Awaitable[Tab]], settings: Settings
) -> None:
    person = await make_person(settings, "ana@example.org")
    tab = await open_tab(javascript=False)
    page = tab.page

    await page.goto("/sign-in")
    await page.get_by_label("E-mail address").fill(person.email)
    await page.get_by_label("Password").fill("not the password")
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Sign in").click()

    assert (await answer.value).status == 400
    await expect(page.get_by_role("alert")).to_have_text(
        gettext("en", "The e-mail address or password is not correct.")
    )
    await expect(page.get_by_label("E-mail address")).to_have_value(person.email)
    assert tab.problems() == []
