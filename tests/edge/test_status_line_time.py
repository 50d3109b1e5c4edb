"""`steward-edge status` shows, per bus, whether it answers and how much of an RS-485
line's time goes to waiting on a device that does not answer."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from acq_helpers import mixed_fleet
from sim_thread import SimulatorThread

TIMEOUT = 0.3
ARGS = ("--duration", "3.3", "--status-every", "1")


def test_status_shows_a_silent_devices_share_of_line_time(tmp_path):
    fleet = mixed_fleet(frozen=True)
    with SimulatorThread(fleet, framing="rtu") as sim:
        site = tmp_path / "site.yaml"
        site.write_text(
            "site: s1\nbuilding: b1\n"
            f"buses: [{{id: line1, rtu: {{port: 'socket://127.0.0.1:{sim.port}', "
            f"baudrate: 115200}}, timeout: {TIMEOUT}s, retries: 0, backoff_cap: 300ms}}]\n"
            "devices:\n"
            "  - {id: m1, bus: line1, profile: chint/dtsu666, unit: 1, interval: 500ms}\n"
            "  - {id: ghost, bus: line1, profile: chint/dtsu666, unit: 99, interval: 300ms}\n"
            "outbox: {path: data/outbox.sqlite}\n"
        )
        (tmp_path / "data").mkdir()
        run = subprocess.run(
            [sys.executable, "-m", "edge.cli", "run", str(site), *ARGS],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr

    def status(*extra):
        done = subprocess.run(
            [sys.executable, "-m", "edge.cli", "status", str(site), *extra],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    agent = json.loads(status("--json"))["agent"]
    text = status()
    line = next((x for x in text.splitlines() if "bus line1" in x), None)
    assert line is not None, text
    assert "answering" in line and "NOT ANSWERING" not in line  # m1 answers: the line works
    # By hand: every poll of the ghost waits one timeout (no retries, the poll stops at the
    # first silence), then keeps the line for one more timeout to drain a late answer that
    # never comes, so its share is timeouts x 2 x 0.3 s over the bus's running time.
    timeouts = agent["devices"]["ghost"]["errors"]["timeout"]
    seconds = agent["buses"]["line1"]["seconds"]
    expected = 100 * timeouts * 2 * TIMEOUT / seconds
    assert timeouts >= 3 and expected > 10
    shown = float(re.search(r"ghost (\d+\.\d)%", line).group(1))
    assert abs(shown - expected) < 3, (shown, expected, line)
    assert "m1" not in line  # a device that answers costs no waiting
