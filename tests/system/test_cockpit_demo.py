"""The cockpit on the README's demo, in a real browser: `steward-sim demo` (simulated
meters and HVAC zones, Mosquitto, the access simulator, the edge, the API) and Debian's
headless Chromium driven by Playwright. An operator logs in with the password the demo
printed, reads the simulated building's figures (the same as the API's), switches to
English, acknowledges a door alarm and moves a hazard one step. No request leaves
127.0.0.1, the console stays clean, and every page is saved as a screenshot under
tests/artifacts/cockpit-demo/ to be looked at."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from cockpit_kit import PAGES, chromium, log_in, open_page, value_of, watched
from servers import free_port, require_binary

from simulators.demo import BUILDING, SITE, cockpit_login

ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "cockpit-demo"
# The demo's lab door contact (simulators/scenarios/building-day.yaml, shelly/dw-gen1): the
# scenario leaves LAB alone for its first 150 s, so an opening now has no grant before it.
LAB_CONTACT_TOPIC = "shellies/shellydw2-lab/sensor/state"


@contextlib.contextmanager
def demo(tmp_path: Path) -> Iterator[tuple[str, int]]:
    api_port, mqtt_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "simulators.cli", "demo", "--dir", str(tmp_path), "--fresh"),
            *("--api-port", str(api_port), "--modbus-port", str(free_port())),
            *("--mqtt-port", str(mqtt_port), "--hvac-port", str(free_port())),
            *("--interval", "1s", "--speed", "60", "--status-every", "30"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{api_port}", mqtt_port
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _viewer(tmp_path: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {(tmp_path / 'viewer.token').read_text().strip()}"}


def _wait_for(what: str, probe, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError, KeyError, ValueError, TypeError):
            last = probe()
            if last:
                return last
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout:g} s; last: {last!r}")


def _overview_row(api: str, headers: dict[str, str]) -> dict:
    body = httpx.get(f"{api}/v1/cockpit/overview", headers=headers, timeout=5).json()
    return next(b for b in body["buildings"] if b["building"] == BUILDING)


def _open_the_lab_door(mqtt_port: int) -> None:
    """The lab door's contact reports it open with no badge before it: door.forced, which
    stays raised (unacknowledged) while the door stays open."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="cockpit-test-intruder")
    client.connect("127.0.0.1", mqtt_port)
    client.loop_start()
    try:
        client.publish(LAB_CONTACT_TOPIC, "open", qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()


def _same_as_api(page, testid: str, api_value) -> bool:
    """The figure on the screen is the API's (its data-value), read at about the same
    time: the demo runs at x60, so a figure may move between the two reads."""
    return value_of(page, testid) == pytest.approx(api_value(), rel=1e-9, abs=1e-9)


@pytest.mark.slow
def test_the_cockpit_on_the_demo(tmp_path):
    require_binary("mosquitto")
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with demo(tmp_path) as (api, mqtt_port):
        headers = _wait_for("the demo's users", lambda: _viewer(tmp_path))
        # The simulated building's power and today's energy have reached the API.
        _wait_for(
            "power and today's energy on the overview",
            lambda: (row := _overview_row(api, headers))["power_kw"] and row["today"],
        )
        _open_the_lab_door(mqtt_port)
        forced = _wait_for(
            "the door.forced alarm of the lab door",
            lambda: httpx.get(
                f"{api}/v1/alarms",
                params={"site": SITE, "code": "door.forced", "state": "unack"},
                headers=headers,
                timeout=5,
            ).json()["alarms"],
            timeout=30,
        )[0]
        operator, password = cockpit_login(tmp_path, "operator")
        operator_headers = {
            "Authorization": f"Bearer {(tmp_path / 'operator.token').read_text().strip()}"
        }
        hazard = httpx.post(
            f"{api}/v1/hazards",
            json={
                "alarm_id": forced["id"],
                "severity": "general",
                "deadline": time.time() + 7 * 86400,
                "description": "lab door opened without a badge: check the contact and lock",
            },
            headers=operator_headers,
            timeout=5,
        )
        assert hazard.status_code == 201, hazard.text
        hazard_id = hazard.json()["id"]

        with chromium() as browser, watched(browser) as w:
            page = w.page
            log_in(page, api, operator, password)
            page.screenshot(path=ARTIFACTS / "overview-zh.png")

            # Real numbers of the simulated building, the same as the API's.
            for testid, key in (
                (f"overview-power-kw-{BUILDING}", lambda r: r["power_kw"]),
                (f"overview-today-kwh-{BUILDING}", lambda r: r["today"]["kwh"]),
                (f"overview-alarms-open-{BUILDING}", lambda r: r["alarms"]["open"]),
            ):
                _wait_for(
                    f"{testid} equal to the API's",
                    lambda t=testid, k=key: _same_as_api(
                        page, t, lambda: k(_overview_row(api, headers))
                    ),
                    timeout=20,
                )
            kwh = value_of(page, f"overview-today-kwh-{BUILDING}")
            assert kwh > 0

            # English, remembered.
            page.get_by_test_id("lang-switch").click()
            expect(page.get_by_test_id("nav-overview")).to_have_text("Overview")
            page.reload()
            expect(page.get_by_test_id("nav-overview")).to_have_text("Overview")

            # The door alarm acknowledged from the security page.
            open_page(page, "security")
            alarm = forced["id"]
            expect(page.get_by_test_id(f"alarm-state-{alarm}")).to_have_text("unacknowledged")
            page.get_by_test_id(f"alarm-ack-{alarm}").click()
            expect(page.get_by_test_id(f"alarm-state-{alarm}")).to_have_text("acknowledged")
            stored = httpx.get(f"{api}/v1/alarms/{alarm}", headers=headers).json()
            assert (stored["state"], stored["acked_by"]) == ("acked", operator)

            # The hazard raised from it, moved one step on the board.
            open_page(page, "hazards")
            page.get_by_test_id(f"hazard-action-{hazard_id}-assign").click()
            page.get_by_test_id(f"hazard-input-{hazard_id}-assign").fill(operator)
            page.get_by_test_id(f"hazard-confirm-{hazard_id}-assign").click()
            expect(
                page.get_by_test_id("hazard-column-assigned").get_by_test_id(
                    f"hazard-card-{hazard_id}"
                )
            ).to_be_visible()
            stored = httpx.get(f"{api}/v1/hazards/{hazard_id}", headers=headers).json()
            assert (stored["state"], stored["assignee"]) == ("assigned", operator)

            for name in PAGES:
                open_page(page, name)
                page.screenshot(path=ARTIFACTS / f"{name}-en.png", full_page=True)
            # watched() has checked: every request went to 127.0.0.1, no console error.
