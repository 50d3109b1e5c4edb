"""/docs in a real browser (Playwright driving Debian's /usr/bin/chromium) against a real
served API: Authorize with a user's token, "Try it out" on GET /v1/me, see 200 and the
user's name; the token survives a reload (persistAuthorization); and no request of the
page goes anywhere but this API."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from api_testkit import add_user, in_process_api
from cockpit_kit import chromium
from playwright.sync_api import expect


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as browser:
        yield browser


def try_me(page) -> tuple[str, str]:
    """Open GET /v1/me, "Try it out", "Execute": the status and body the page shows."""
    operation = page.locator(".opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/v1/me"]')
    )
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    live = operation.locator(".live-responses-table tbody .response")
    status = live.locator(".response-col_status").inner_text(timeout=15_000)
    body = live.locator(".response-col_description pre").first.inner_text()
    return status.strip(), body


def test_authorize_with_a_token_then_try_it_out_on_me(browser, tmp_path) -> None:
    with in_process_api(tmp_path) as api:
        token = add_user(api.db, "vera", "viewer")
        origin = str(api.client.base_url).rstrip("/")
        context = browser.new_context()
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        try:
            page.goto(f"{origin}/docs")
            page.locator("button.authorize").first.click()
            scheme = page.locator(".auth-container").filter(has_text="UserToken")
            scheme.locator("input").fill(token)
            scheme.locator("button.authorize").click()  # its accessible name: "Apply credentials"
            expect(scheme.locator("code", has_text="******")).to_have_count(1)  # authorized
            scheme.locator("button.btn-done").click()

            status, body = try_me(page)
            assert status == "200", body
            assert '"name": "vera"' in body and '"role": "viewer"' in body

            # persistAuthorization: the token is still there when the page is loaded again
            # (not reload(): the address now ends in the operation's deep link, which
            # would open it already)
            page.goto(f"{origin}/docs")
            expect(page.locator("button.authorize.locked")).to_have_count(1)
            status, body = try_me(page)
            assert status == "200", body
            assert '"name": "vera"' in body
        finally:
            context.close()

    assert f"{origin}/openapi.json" in requested and f"{origin}/v1/me" in requested
    hosts = {urlsplit(url).hostname for url in requested if not url.startswith("data:")}
    assert hosts == {"127.0.0.1"}, requested
    assert problems == [], "\n".join(requested)
