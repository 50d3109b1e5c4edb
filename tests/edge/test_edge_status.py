"""`steward-edge status`: what waits in the outbox and what the agent last reported,
readable while the agent runs or after it stopped."""

from __future__ import annotations

import json
import subprocess
import sys

from acq_helpers import mixed_fleet
from sim_thread import SimulatorThread


def test_status_shows_backlog_and_the_agents_last_figures(tmp_path):
    fleet = mixed_fleet(frozen=True)
    with SimulatorThread(fleet) as sim:
        site = tmp_path / "site.yaml"
        site.write_text(
            "site: s1\nbuilding: b1\n"
            f"buses: [{{id: gw, tcp: {{host: 127.0.0.1, port: {sim.port}}}, timeout: 300ms}}]\n"
            "devices:\n"
            "  - {id: 'm{unit}', bus: gw, profile: chint/dtsu666, units: 1-3, interval: 500ms}\n"
            "  - {id: ghost, bus: gw, profile: chint/dtsu666, unit: 99, interval: 500ms}\n"
            "outbox: {path: data/outbox.sqlite}\n"
        )
        (tmp_path / "data").mkdir()
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "edge.cli",
                "run",
                str(site),
                "--duration",
                "2.2",
                "--status-every",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
    text = subprocess.run(
        [sys.executable, "-m", "edge.cli", "status", str(site)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert text.returncode == 0, text.stderr
    assert "readings" in text.stdout and "records" in text.stdout
    assert "1 devices not answering" in text.stdout  # unit 99 does not exist
    as_json = json.loads(
        subprocess.run(
            [sys.executable, "-m", "edge.cli", "status", str(site), "--json"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    )
    readings = as_json["backlog"]["readings"]
    # No uplink: every poll of the 4 devices waits in the outbox, nothing was dropped.
    assert readings["records"] >= 4 * 3 and readings["dropped_records"] == 0
    assert as_json["backlog"]["events"]["records"] >= 1  # "ghost is not answering"
    assert as_json["agent"]["devices"]["ghost"]["failed_polls"] >= 1


def test_status_shows_drops_by_reason(tmp_path):
    """Every drop is visible by lane and reason, read straight from the outbox file."""
    import io

    from edge.cli import print_status
    from edge.config import load_site
    from edge.model import Event
    from edge.outbox import Outbox

    site = tmp_path / "site.yaml"
    site.write_text(
        "site: s1\nbuilding: b1\n"
        "buses: [{id: gw, tcp: {host: 127.0.0.1, port: 1}}]\n"
        "devices: [{id: m1, bus: gw, profile: chint/dtsu666, unit: 1}]\n"
        "outbox: {path: outbox.sqlite}\n"
    )
    with Outbox(tmp_path / "outbox.sqlite", max_events_records=10, drop_slack=0.0) as outbox:
        for i in range(15):
            outbox.append_event(Event(1_780_000_000.0 + i, "door-1", "forced", f"e{i}"))
    out = io.StringIO()
    assert print_status(load_site(site), as_json=False, out=out) == 0
    assert "events    10 records" in out.getvalue()
    assert "dropped 5 records; quarantined 0; drops by reason: events_full 5" in out.getvalue()
