"""Helpers of the cockpit page's browser tests: a browser context whose requests and
console are watched, logging in, waiting for a page to be drawn."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "cockpit-test-password"
PAGES = ("overview", "energy", "security", "hazards", "control")
ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "cockpit"


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser);
    skipped, with the command that installs it, where it is missing."""
    from servers import require_binary

    require_binary("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Cockpit:
    url: str
    api: object  # api_testkit.InProcessApi
    tokens: dict[str, str]
    seeded: object  # cockpit_seed.Seeded

    def get(self, path: str, who: str = "viewer", **params: object) -> dict:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        answer = self.api.client.get(path, params=params or None, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()


class Watched:
    """A browser context's page with its requests and console problems recorded."""

    def __init__(self, browser, width: int, height: int) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.requested: list[str] = []
        self.problems: list[str] = []
        self.page.on("request", lambda request: self.requested.append(request.url))
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("console", self._console)

    def _console(self, message) -> None:
        url = message.location.get("url", "")
        # The browser logs every 401 as a failed load: the page asks /v1/me before anyone
        # logged in, and a wrong password is a 401 by design.
        expected = "401" in message.text and urlsplit(url).path in ("/v1/me", "/v1/session")
        if message.type == "error" and not expected:
            self.problems.append(f"console error: {message.text} ({url})")
        if message.type == "warning" and "i18n" in message.text:
            self.problems.append(f"missing text: {message.text}")

    def check(self) -> None:
        hosts = {urlsplit(url).hostname for url in self.requested if not url.startswith("data:")}
        assert hosts == {"127.0.0.1"}, sorted(set(self.requested))
        assert self.problems == []


@contextlib.contextmanager
def watched(browser, width: int = 1920, height: int = 1080) -> Iterator[Watched]:
    """A new context (own cookies and storage); on leaving, no request went anywhere but
    127.0.0.1 and the console had no error."""
    w = Watched(browser, width, height)
    try:
        yield w
    finally:
        w.context.close()
    w.check()


def log_in(page, url: str, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/")
    page.get_by_test_id("login-name").fill(name)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    wait_loaded(page, "overview")


def wait_loaded(page, name: str) -> None:
    """The page `name` has its first data drawn, every chart included."""
    page.wait_for_selector(f'body[data-page="{name}"][data-loaded="1"]', state="attached")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-chart-ready]')]"
        ".every(e => e.dataset.chartReady === '1')"
    )


def open_page(page, name: str) -> None:
    page.get_by_test_id(f"nav-{name}").click()
    wait_loaded(page, name)


def value_of(page, testid: str) -> float:
    """The API's number behind a figure (its data-value)."""
    return float(page.get_by_test_id(testid).get_attribute("data-value"))
