"""The cockpit on a fresh install (no building, no reading, no alarm yet): every page
loads, says there is nothing rather than showing numbers, and throws nothing."""

from __future__ import annotations

from api_testkit import add_user, in_process_api
from cockpit_kit import PAGES, PASSWORD, log_in, open_page, watched
from playwright.sync_api import expect


def test_every_page_loads_on_an_empty_store(browser, tmp_path) -> None:
    with in_process_api(tmp_path) as api:
        add_user(api.db, "olga", "operator", password=PASSWORD)
        url = str(api.client.base_url).rstrip("/")
        with watched(browser) as w:
            page = w.page
            log_in(page, url, "olga")
            expect(page.get_by_test_id("overview-cards")).to_have_text("暂无楼宇数据")
            expect(page.get_by_test_id("overview-total-power-kw")).to_have_text("—")
            for name in PAGES:
                open_page(page, name)
                if name == "energy":
                    expect(page.locator("#view")).to_have_text("暂无楼宇数据")
            expect(page.get_by_test_id("control-commands")).to_have_text("当前无生效的控制指令")
