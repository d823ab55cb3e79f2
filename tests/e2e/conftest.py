"""Real-browser tests: the app served by granian over real HTTP, driven by the system Chromium.

The server runs in a subprocess of its own and shares the test run's database (DATABASE_URL), data folder
(DATA_DIR) and Redis (REDIS_URL, when set) through the environment, so data made through the services in the
test is what the browser sees. No browser is ever downloaded: Playwright drives /usr/bin/chromium.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    async_playwright,
    expect,
)

from imvo.platform.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_SECONDS = 20
STEP_TIMEOUT_MS = 10_000  # generous for a loaded CI machine; a passing step never waits for it
expect.set_options(timeout=STEP_TIMEOUT_MS)
FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d{3})")
# Playwright runs init scripts outside the page's CSP, so this reporter sees every violation the page causes.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) =>
  window.reportCspViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`));
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Stop granian and its worker: they share the process group the server was started in."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def wait_until_healthy(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                break
            try:
                if http.get(f"{url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"the server at {url} did not become healthy:\n{log.read_text()[-4000:]}")


@pytest.fixture
def live_server(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """The real app under granian on a free loopback port; yields its base URL.

    The server gets the test settings' secret key, because the TOTP seeds the test enrols are sealed with it.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SECRET_KEY": settings.secret_key, "BASE_URL": url}
    log = tmp_path / "server.log"
    command = [
        sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--workers", "1",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        "imvo.platform.app:create_app",
    ]  # fmt: skip
    with log.open("wb") as output:
        # Started outside the repository, so the server imports the installed package as production does.
        server = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_healthy(server, url, log)
        yield url
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@dataclass
class Tab:
    """A page in a fresh browser profile, and what the page complained about while the test used it."""

    page: Page
    documents: set[str] = field(default_factory=set)  # URLs of the pages themselves, not their parts
    complaints: list[tuple[str, str]] = field(default_factory=list)  # (message, URL it concerns)

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and CSP violations.

        Chromium also logs every 4xx answer as a console error; those of the pages themselves are the app's
        intended answers (the tests check their statuses), and its own favicon probe may find nothing.
        """
        found = []
        for message, url in self.complaints:
            status = FAILED_LOAD.match(message)
            expected = url in self.documents or urlsplit(url).path == "/favicon.ico"
            if not (status and int(status[1]) < 500 and expected):
                found.append(f"{message} ({url})")
        return found


@pytest.fixture
async def open_tab(browser: Browser, live_server: str) -> AsyncIterator[Callable[..., Awaitable[Tab]]]:
    """Opens a tab on the live server: `await open_tab(javascript=False)`."""
    contexts: list[BrowserContext] = []

    async def open_(*, javascript: bool = True) -> Tab:
        context = await browser.new_context(
            base_url=live_server, java_script_enabled=javascript, locale="en-GB"
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        contexts.append(context)
        page = await context.new_page()
        tab = Tab(page)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                tab.complaints.append((message.text, message.location.get("url", "")))

        def on_response(response: Response) -> None:
            if response.request.is_navigation_request():
                tab.documents.add(response.url)

        page.on("console", on_console)
        page.on("response", on_response)
        page.on("pageerror", lambda error: tab.complaints.append((f"uncaught: {error}", page.url)))
        await page.expose_function(
            "reportCspViolation", lambda text: tab.complaints.append((f"CSP: {text}", page.url))
        )
        await page.add_init_script(REPORT_CSP_VIOLATIONS)
        return tab

    yield open_
    for context in contexts:
        await context.close()
