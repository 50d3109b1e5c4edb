"""Planned outage: `steward-edge pause` stops sending while polling goes on, `status`
shows it, and `resume` (or the pause's end time) sends the backlog, exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
from acq_helpers import mixed_fleet
from central import add_edge, add_user, start_api
from servers import free_port, stop
from sim_thread import SimulatorThread


def edge_cli(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def acked(port: int, viewer: str) -> int:
    headers = {"Authorization": f"Bearer {viewer}"}
    edges = httpx.get(f"http://127.0.0.1:{port}/v1/edges", headers=headers, timeout=5)
    edges = edges.json()["edges"]
    return edges[0]["lanes"].get("readings", {}).get("acked", 0)


def uplink_state(site) -> str | None:
    """The uplink's state in the agent's latest status snapshot (written every second)."""
    agent = json.loads(edge_cli("status", str(site), "--json")).get("agent") or {}
    return (agent.get("uplink") or {}).get("state")


def wait_for(what: str, check, timeout: float = 30.0) -> None:
    """Poll `check()` until it holds; a busy 2-core machine may take a while to start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout:g} s")


def test_pause_holds_the_backlog_and_resume_delivers_it(tmp_path):
    db, port = tmp_path / "central.sqlite", free_port()
    token = add_edge(db)
    viewer = add_user(db, "vera", "viewer")
    fleet = mixed_fleet(frozen=True)
    with SimulatorThread(fleet) as sim:
        api = start_api(db, port, tmp_path / "api.log")
        site = tmp_path / "site.yaml"
        site.write_text(
            "site: test-site\nbuilding: b1\nedge: edge-a\n"
            f"buses: [{{id: gw, tcp: {{host: 127.0.0.1, port: {sim.port}}}}}]\n"
            "devices: [{id: 'm{unit}', bus: gw, profile: chint/dtsu666, units: 1-5,"
            " interval: 500ms}]\n"
            "outbox: {path: outbox.sqlite}\n"
            f"uplink: {{url: 'http://127.0.0.1:{port}', token: '{token}', max_age: 500ms}}\n"
        )
        edge = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", str(site), "--status-every", "1"],
            stderr=open(tmp_path / "edge.log", "wb"),  # noqa: SIM115
        )
        try:
            wait_for("the edge delivers readings", lambda: acked(port, viewer) > 0)
            edge_cli("pause", str(site), "--reason", "API maintenance")
            wait_for(
                "the agent notices the pause",
                lambda: "uplink paused until resumed" in (tmp_path / "edge.log").read_text(),
            )
            # The send loop parks only after a batch already on its way when the pause was
            # noticed has its answer (a fixed 1 s here was too short on a loaded machine).
            wait_for("the uplink parks", lambda: uplink_state(site) == "paused")
            held = acked(port, viewer)
            time.sleep(3)
            assert acked(port, viewer) == held  # nothing sent while paused
            status = edge_cli("status", str(site))
            assert "paused until resumed: API maintenance" in status
            backlog = json.loads(edge_cli("status", str(site), "--json"))["backlog"]["readings"]
            assert backlog["records"] >= 5 * 2 * 3  # 5 meters, 2 polls/s, 3 s at least
            edge_cli("resume", str(site))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                b = json.loads(edge_cli("status", str(site), "--json"))["backlog"]["readings"]
                if b["records"] < 10 and acked(port, viewer) > held + backlog["records"] - 10:
                    break
                time.sleep(0.5)
            else:
                raise AssertionError("the backlog was not delivered after resume")
            # A pause with an end time lifts itself.
            edge_cli("pause", str(site), "--for", "3s")
            wait_for(
                "the pause lifts itself", lambda: "paused" not in edge_cli("status", str(site))
            )
        finally:
            edge.terminate()
            edge.wait(30)
            stop(api)
    log = (tmp_path / "edge.log").read_text()
    assert "uplink paused until resumed: API maintenance" in log
    assert "cannot reach" not in log  # a pause is not an outage: no errors, no retries
