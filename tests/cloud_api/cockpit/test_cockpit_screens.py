"""Every page of the cockpit in a real browser, at 1920x1080 and 1366x768 and on the wall
display (the 1920x1080 design scaled into a 1366x768 window): the login form refuses a
wrong password, each page draws its data and charts, nothing is wider than the window
(the wall: nor taller), the wall mode is remembered. Screenshots of each go to
tests/artifacts/cockpit/ (not committed) to be looked at."""

from __future__ import annotations

from cockpit_kit import ARTIFACTS, PAGES, log_in, open_page, wait_loaded, watched
from playwright.sync_api import expect


def test_login_every_page_and_its_screenshots(browser, cockpit) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1920, 1080), (1366, 768)):
        with watched(browser, width, height) as w:
            page = w.page
            page.goto(f"{cockpit.url}/")
            expect(page.get_by_test_id("login-form")).to_be_visible()
            page.get_by_test_id("login-name").fill("olga")
            page.get_by_test_id("login-password").fill("not the password")
            page.get_by_test_id("login-submit").click()
            expect(page.get_by_test_id("login-error")).to_be_visible()
            page.screenshot(path=ARTIFACTS / f"login-{width}.png")
            log_in(page, cockpit.url, "olga")
            for name in PAGES:
                open_page(page, name)
                page.screenshot(path=ARTIFACTS / f"{name}-{width}.png", full_page=True)
                # Nothing wider than the window (a table or a chart that overflows).
                assert page.evaluate("document.documentElement.scrollWidth") <= width, name
    with watched(browser, 1366, 768) as w:
        page = w.page
        log_in(page, cockpit.url, "olga")
        page.get_by_test_id("wall-toggle").click()
        wait_loaded(page, "overview")
        for name in PAGES:
            open_page(page, name)
            # The 1920x1080 design scaled into the window: no scrollbars.
            size = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            assert size[0] <= 1366 and size[1] <= 768, (name, size)
            page.screenshot(path=ARTIFACTS / f"{name}-wall-1366.png")
        # Remembered: a new load is still the wall.
        page.reload()
        wait_loaded(page, "control")
        assert "wall" in page.evaluate("document.body.className")
