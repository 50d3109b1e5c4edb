"""The cockpit page in a real browser (Playwright driving Debian's /usr/bin/chromium)
against the real API served by uvicorn on a loopback port, its store seeded through
POST /v1/ingest and the API (cockpit_seed.py), its clock held at the seed's NOW: the
figures a user reads are the API's and the seed's, the language switch, acknowledging
an alarm and moving a hazard by role, logging out. Every browser context checks that no
request left 127.0.0.1 and that the console had no error (cockpit_kit.watched)."""

from __future__ import annotations

import pytest
from cockpit_kit import Cockpit, log_in, open_page, value_of, wait_loaded, watched
from cockpit_seed import POWER_NOW, SITE
from playwright.sync_api import expect

OPEN_STATES = ["unack", "acked", "rtn_unack", "shelved", "suppressed", "out_of_service"]


def test_overview_figures_are_the_apis_and_the_seeds(browser, cockpit) -> None:
    api = cockpit.get("/v1/cockpit/overview")
    with watched(browser) as w:
        page = w.page
        log_in(page, cockpit.url, "vera")
        for building in ("tower-a", "tower-b"):
            row = next(b for b in api["buildings"] if b["building"] == building)
            # Power now: the last active_power reading as seeded, shown with one decimal.
            assert value_of(page, f"overview-power-kw-{building}") == row["power_kw"]
            assert row["power_kw"] == POWER_NOW[building]
            shown = page.get_by_test_id(f"overview-power-kw-{building}").inner_text()
            assert f"{POWER_NOW[building]:,.1f}" in shown
            # Today's kWh: the API's figure, which is the seed's hand sum of the load.
            kwh = value_of(page, f"overview-today-kwh-{building}")
            assert kwh == row["today"]["kwh"]
            assert kwh == pytest.approx(cockpit.seeded.today_kwh[building], rel=1e-9)
            assert page.get_by_test_id(f"overview-today-kwh-{building}").inner_text() == (
                f"{round(kwh):,}"
            )
            # Open alarms: counted here from the alarm list itself.
            listed = cockpit.get(
                "/v1/alarms", site=SITE, building=building, state=OPEN_STATES, limit=1000
            )["alarms"]
            assert value_of(page, f"overview-alarms-open-{building}") == len(listed)
            for colour in ("red", "yellow", "green"):
                want = sum(1 for a in listed if a["colour"] == colour)
                assert value_of(page, f"overview-alarms-{colour}-{building}") == want


def test_language_switch_changes_the_labels_and_is_remembered(browser, cockpit) -> None:
    with watched(browser) as w:
        page = w.page
        log_in(page, cockpit.url, "vera")
        nav = page.get_by_test_id("nav-overview")
        expect(nav).to_have_text("总览")  # Chinese by default
        page.get_by_test_id("lang-switch").click()
        wait_loaded(page, "overview")
        expect(nav).to_have_text("Overview")
        expect(page.get_by_test_id("nav-hazards")).to_have_text("Hazards")
        assert page.evaluate("document.documentElement.lang") == "en"
        page.reload()
        wait_loaded(page, "overview")
        expect(nav).to_have_text("Overview")
        page.get_by_test_id("logout").click()
        expect(page.get_by_test_id("login-submit")).to_have_text("Log in")  # still English
        page.get_by_test_id("lang-switch").click()
        expect(page.get_by_test_id("login-submit")).to_have_text("登录")


def _alarm_id(cockpit: Cockpit, code: str) -> int:
    listed = cockpit.get("/v1/alarms", site=SITE, building="tower-a", code=code)["alarms"]
    (alarm,) = listed
    return alarm["id"]


def test_viewer_sees_no_ack_and_an_operator_acks(browser, cockpit) -> None:
    alarm_id = _alarm_id(cockpit, "door.forced")
    with watched(browser) as w:
        page = w.page
        log_in(page, cockpit.url, "vera")
        open_page(page, "security")
        expect(page.get_by_test_id(f"alarm-row-{alarm_id}")).to_be_visible()
        expect(page.get_by_test_id(f"alarm-state-{alarm_id}")).to_have_text("未确认")
        expect(page.locator('[data-testid^="alarm-ack-"]')).to_have_count(0)
        expect(page.locator('[data-testid^="alarm-shelve-"]')).to_have_count(0)
    with watched(browser) as w:
        page = w.page
        log_in(page, cockpit.url, "olga")
        open_page(page, "security")
        page.get_by_test_id(f"alarm-ack-{alarm_id}").click()
        expect(page.get_by_test_id(f"alarm-state-{alarm_id}")).to_have_text("已确认")
        expect(page.get_by_test_id(f"alarm-ack-{alarm_id}")).to_have_count(0)
    stored = cockpit.get(f"/v1/alarms/{alarm_id}")
    assert stored["state"] == "acked" and stored["acked_by"] == "olga"


def test_hazard_moves_one_step_and_shows_its_trail(browser, cockpit) -> None:
    hazard = cockpit.seeded.hazard_ids["extinguisher"]
    with watched(browser) as w:
        page = w.page
        log_in(page, cockpit.url, "vera")
        open_page(page, "hazards")
        expect(page.get_by_test_id(f"hazard-card-{hazard}")).to_be_visible()
        expect(page.locator('[data-testid^="hazard-action-"]')).to_have_count(0)
    with watched(browser) as w:
        page = w.page
        log_in(page, cockpit.url, "olga")
        open_page(page, "hazards")
        card = page.get_by_test_id("hazard-column-found").get_by_test_id(f"hazard-card-{hazard}")
        expect(card).to_be_visible()
        page.get_by_test_id(f"hazard-action-{hazard}-assign").click()
        page.get_by_test_id(f"hazard-input-{hazard}-assign").fill("wang")
        page.get_by_test_id(f"hazard-confirm-{hazard}-assign").click()
        moved = page.get_by_test_id("hazard-column-assigned").get_by_test_id(
            f"hazard-card-{hazard}"
        )
        expect(moved).to_be_visible()
        expect(page.get_by_test_id(f"hazard-state-{hazard}")).to_have_text("已派单")
        moved.click()
        trail = page.get_by_test_id(f"hazard-history-{hazard}").locator("li")
        expect(trail).to_have_count(2)  # registered, assigned
        expect(trail.nth(1)).to_contain_text("olga")
    stored = cockpit.get(f"/v1/hazards/{hazard}")
    assert stored["state"] == "assigned" and stored["assignee"] == "wang"
    assert [(s["action"], s["by"]) for s in stored["history"]] == [
        ("create", "olga"),
        ("assign", "olga"),
    ]


def test_logout_ends_the_session(browser, cockpit) -> None:
    with watched(browser) as w:
        page = w.page
        log_in(page, cockpit.url, "vera")
        assert page.request.get(f"{cockpit.url}/v1/me").status == 200
        page.get_by_test_id("logout").click()
        expect(page.get_by_test_id("login-form")).to_be_visible()
        assert page.request.get(f"{cockpit.url}/v1/me").status == 401


def test_report_links_open_with_the_session(browser, cockpit) -> None:
    with watched(browser) as w:
        page = w.page
        log_in(page, cockpit.url, "vera")
        open_page(page, "energy")
        for testid, kind in (
            ("report-energy-2026-11-html", "text/html"),
            ("report-patrol-2026-10-csv", "text/csv"),
            ("report-alarms-2026-11-html", "text/html"),
            ("report-hazards-csv", "text/csv"),
        ):
            href = page.get_by_test_id(testid).get_attribute("href")
            assert href.startswith(f"{cockpit.url}/v1/reports/") and "building=tower-a" in href
            answer = page.request.get(href)  # the page's cookie, as a click would send it
            assert answer.status == 200, (testid, answer.text()[:300])
            assert answer.headers["content-type"].startswith(kind), testid


def test_dates_read_month_day_in_both_languages(browser, cockpit) -> None:
    """2026-11-30 06:05 UTC is 11-30 14:05 in Shanghai: month-day in Chinese and English
    alike (en-GB's "30/11, 14:05" was read as a month/day)."""
    with watched(browser) as w:
        page = w.page
        log_in(page, cockpit.url, "vera")
        shown = page.evaluate(
            """async () => {
                const i18n = await import('/cockpit/static/i18n.js');
                const ts = Date.UTC(2026, 10, 30, 6, 5) / 1000;
                const zh = i18n.formatDateTime(ts, 'Asia/Shanghai');
                i18n.setLang('en');
                const en = i18n.formatDateTime(ts, 'Asia/Shanghai');
                i18n.setLang('zh-CN');
                return [zh, en];
            }"""
        )
    assert shown == ["11-30 14:05", "11-30 14:05"]
