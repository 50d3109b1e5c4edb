"""The README's first command: the demo starts the Modbus simulator, the HVAC simulator,
the edge, the API, a Mosquitto broker and the access simulator; readings and access events
reach the API, the energy side shows (today's kWh, the meter balance, the budget its
energy manager set), the edge limits the HVAC building's demand by writing its zones
(demand blocks and control writes reach the API), and Ctrl-C stops all of them cleanly."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import signal
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

import httpx
import psutil
import pytest
import yaml
from servers import free_port, require_binary

from simulators.demo_energy import BUDGET_ID, BUDGET_KWH


@pytest.mark.slow
def test_demo_delivers_readings_and_access_events_to_the_api_and_stops_on_ctrl_c(tmp_path):
    require_binary("mosquitto")  # the access side needs it; ./quickstart.sh installs it
    api_port, modbus_port, mqtt_port, hvac_port = free_port(), free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators.cli",
            "demo",
            "--dir",
            str(tmp_path),
            "--fresh",
            "--api-port",
            str(api_port),
            "--modbus-port",
            str(modbus_port),
            "--mqtt-port",
            str(mqtt_port),
            "--hvac-port",
            str(hvac_port),
            "--interval",
            "1s",
            "--speed",
            "60",
            "--status-every",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    api = f"http://127.0.0.1:{api_port}"
    headers: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 90
        series, events = [], []
        while time.monotonic() < deadline:
            try:
                viewer = (tmp_path / "viewer.token").read_text().strip()
                headers = {"Authorization": f"Bearer {viewer}"}
                series = httpx.get(f"{api}/v1/series", headers=headers, timeout=2)
                series = series.json()["series"]
                # building-day's first events: a staff badge at second 10, the door after.
                events = httpx.get(f"{api}/v1/access-events", headers=headers, timeout=2)
                events = events.json()["events"]
            except (httpx.HTTPError, KeyError, ValueError, OSError):
                series, events = [], []
            if len(series) > 300 and len(events) >= 2:
                break
            time.sleep(0.5)
        children = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        parts = (
            "meters",
            "hvac --port",
            "edge.cli",
            "cloud_api.cli",
            "mosquitto",
            "access --broker",
        )
        for part in parts:
            assert part in names, names
        # Every device of the demo building shows up, with its tags.
        devices = {s["device"] for s in series}
        assert {"main-incomer", "floor-2", "server-room-8", "zone-20"} <= devices
        main_v = next(
            s for s in series if s["device"] == "main-incomer" and s["point"] == "voltage_l1"
        )
        assert main_v["unit"] == "V" and main_v["tags"].get("system") == "main"
        zone = next(s for s in series if s["device"] == "zone-20")
        assert zone["tags"] == {"system": "hvac", "parent": "chiller-plant"}
        data = httpx.get(f"{api}/v1/series/{main_v['id']}/data", headers=headers, timeout=5)
        data = data.json()
        points = data["points"]
        assert points and 200 < points[-1]["value"] < 260
        # Access events from the scenario, mapped by the edge: S001 badged in at MAIN.
        first = min(events, key=lambda e: e["ts"])
        assert (first["kind"], first["door"], first["credential"]) == (
            "access.granted",
            "MAIN",
            "S001",
        ), events
        _check_energy(api, headers)
        _check_demand_control(api, headers, tmp_path / "site.yaml")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            # A failed assert above: the demo's children run in their own sessions, so
            # killing the demo alone would leave them running (and loading the machine).
            for child in psutil.Process(proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            proc.kill()
    assert proc.returncode == 0, out
    assert "API documentation" in out and "stopping" in out
    assert f"viewer token        {viewer}" in out  # printed for the docs page and curl
    assert f"{api}/v1/alarms" in out and f"{api}/v1/access-events" in out
    assert " access events; " in out  # the status line counts them
    # The status line: the month's kWh and the fresh demo's budget, which has no history
    # to forecast from, so its colour comes from the use alone.
    assert re.search(r"energy \d{4}-\d\d [\d,]+ kWh, ", out), out
    assert "budget green: no forecast: no history before the period" in out, out
    # ... and the HVAC building's demand against its limit, and the zones shed now.
    assert re.search(r"demand: (no block closed yet|last block \d\d:\d\d )", out), out
    assert re.search(r"\d zones? shed now", out), out
    for path in ("/v1/demand?", "/v1/control/commands", "/v1/control/audit"):
        assert f"{api}{path}" in out, out
    assert all(not psutil.pid_exists(c.pid) or c.status() == psutil.STATUS_ZOMBIE for c in children)
    # The edge flushed its outbox on the way out, and held nothing back for its clock.
    log = (tmp_path / "edge.log").read_text()
    assert "everything sent was delivered" in log, log
    assert "held for the clock" not in log, log


def _check_energy(api: str, headers: dict[str, str]) -> None:
    """Today's energy, the meter balance and the budget status, as the API answers them.

    The API's clock is the wall clock while the meters' runs 60 times faster: after a
    minute of the test the simulated time may be past local midnight, so "today" is asked
    as today and tomorrow."""
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    span = {"from": str(today), "to": str(today + dt.timedelta(days=2))}
    place = {"site": "demo-site", "building": "tower-a"}
    deadline = time.monotonic() + 60
    energy = balance = {}
    while time.monotonic() < deadline:
        energy = httpx.get(
            f"{api}/v1/energy", params={**place, **span}, headers=headers, timeout=10
        ).json()
        balance = httpx.get(
            f"{api}/v1/energy/balance", params={**place, **span}, headers=headers, timeout=10
        ).json()
        if energy["total"]["kwh"] > 0 and balance["colour"] == "green":
            break
        time.sleep(1)
    assert energy["total"]["kwh"] > 0, energy
    # The energy configuration the demo wrote is the one the API reads.
    assert (energy["timezone"], energy["area_m2"], energy["occupants"]) == (
        "Asia/Shanghai",
        36000.0,
        1500,
    )
    assert energy["total"]["kwh_per_m2"] == energy["total"]["kwh"] / 36000.0
    assert [m["device"] for m in energy["meters"]] == ["main-incomer"]  # the building: its main
    assert {f["kind"] for f in energy["factors"]} >= {"coal", "co2", "tariff"}
    assert all(f["example"] for f in energy["factors"] if f["kind"] == "tariff")
    # The simulated main incomer is its sub-meters plus 5 % on none of them; the edge
    # reads the meters at different instants, so a day just begun shows a few % around it.
    assert balance["colour"] == "green", balance
    assert balance["problems"] == [] and balance["unknown_systems"] == {}, balance
    assert set(balance["by_system"]) == {"lighting-sockets", "hvac", "power", "special"}
    subs = {m["device"] for m in balance["sub_meters"]}
    assert "chiller-plant" in subs and "zone-20" not in subs  # a zone is in its parent
    status = httpx.get(f"{api}/v1/budgets/{BUDGET_ID}/status", headers=headers, timeout=10)
    assert status.status_code == 200, status.text
    status = status.json()
    assert status["amount"] == BUDGET_KWH and status["unit"] == "kWh"
    assert status["colour"] in ("green", "yellow", "red")
    assert status["forecast"] is None and "no history before the period" in status["reason"]
    budget = httpx.get(f"{api}/v1/budgets/{BUDGET_ID}", headers=headers, timeout=10).json()
    assert budget["updated_by"] == "demo-energy_manager", budget


def _check_demand_control(api: str, headers: dict[str, str], site_file) -> None:
    """Demand blocks of the HVAC board reach the API with the site file's limit, and the
    edge writes a zone (control mode): the limit is 90 % of what the HVAC building draws,
    uncontrolled, in the first simulated hour, so its 15-minute prediction reaches the
    limit less its 5 % margin within that hour (a minute at x60) whatever the time of day,
    and the limiter's first step writes a setpoint at once."""
    site = yaml.safe_load(site_file.read_text())
    assert site["control"]["mode"] == "control" and site["demand"]["meter"] == "hvac-board"
    limit = site["demand"]["limit_kw"]
    place = {"site": "demo-site", "building": "tower-a"}
    deadline = time.monotonic() + 120
    demand, writes = {}, []
    while time.monotonic() < deadline:
        demand = httpx.get(f"{api}/v1/demand", params=place, headers=headers, timeout=10).json()
        audit = httpx.get(f"{api}/v1/control/audit", params=place, headers=headers, timeout=10)
        writes = [e for e in audit.json()["entries"] if e["kind"] == "control.write"]
        if demand["blocks"] and writes:
            break
        time.sleep(1)
    assert demand["blocks"], demand
    assert {b["meter"] for b in demand["blocks"]} == {"hvac-board"}
    assert demand["summary"]["limit_kw"] == limit, demand["summary"]
    assert writes, "no control.write in the audit"
    first = writes[-1]  # newest first
    assert first["mode"] == "control" and first["owner"] == "demand", first
    assert first["device"].startswith("ahu-"), first
    assert first["point"] in ("cooling_setpoint", "heating_setpoint"), first
