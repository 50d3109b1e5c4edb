"""The README's first command: the demo starts the Modbus simulator, the edge, the API, a
Mosquitto broker and the access simulator; readings and access events reach the API, and
Ctrl-C stops all of them cleanly."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest
from servers import free_port, require_binary


@pytest.mark.slow
def test_demo_delivers_readings_and_access_events_to_the_api_and_stops_on_ctrl_c(tmp_path):
    require_binary("mosquitto")  # the access side needs it; ./quickstart.sh installs it
    api_port, modbus_port, mqtt_port = free_port(), free_port(), free_port()
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
        for part in ("meters", "edge.cli", "cloud_api.cli", "mosquitto", "access --broker"):
            assert part in names, names
        # Every device of the demo building shows up, with its tags.
        devices = {s["device"] for s in series}
        assert {"main-incomer", "floor-2", "server-room-8", "zone-20"} <= devices
        main_v = next(
            s for s in series if s["device"] == "main-incomer" and s["point"] == "voltage_l1"
        )
        assert main_v["unit"] == "V" and main_v["tags"].get("system") == "total"
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
    assert all(not psutil.pid_exists(c.pid) or c.status() == psutil.STATUS_ZOMBIE for c in children)
    # The edge flushed its outbox on the way out, and held nothing back for its clock.
    log = (tmp_path / "edge.log").read_text()
    assert "everything sent was delivered" in log, log
    assert "held for the clock" not in log, log
