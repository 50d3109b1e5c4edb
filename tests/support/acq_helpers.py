"""Shared pieces of the acquisition tests: mixed fleets, site files, the agent as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from device_profiles import load
from simulators.clock import SimClock
from simulators.fleet import DeviceFleet, DeviceGroup

# 50 meters of every shipped meter model, as a building would mix them.
MIXED_MODELS = [
    ("chint/dtsu666", range(1, 11)),
    ("chint/ddsu666", range(11, 19)),
    ("eastron/sdm630", range(19, 29)),
    ("eastron/sdm120", range(29, 37)),
    ("schneider/iem3xxx", range(37, 44)),
    ("acrel/adw300", range(44, 51)),
]

FROZEN_AT = 1_784_100_000.0  # 2026-07-15, a summer weekday morning (UTC+8), AC running


def mixed_fleet(frozen: bool = True, seed: int = 7) -> DeviceFleet:
    groups = [DeviceGroup(load(p), list(units)) for p, units in MIXED_MODELS]
    clock = SimClock(FROZEN_AT, 0.0) if frozen else SimClock()
    return DeviceFleet(groups, seed=seed, clock=clock)


def write_site(
    path: Path,
    port: int,
    interval: str = "1s",
    timeout: str = "300ms",
    max_connections: int = 10,
    backoff_cap: str = "2s",
    framing: str = "tcp",
    extra: Sequence[str] = (),
) -> Path:
    """The 50 mixed meters on one bus; `extra` adds top-level lines (outbox:, uplink:)."""
    lines = [
        "site: test-site",
        "building: tower-a",
        "buses:",
    ]
    if framing == "tcp":
        lines.append(
            f"  - {{id: gw1, tcp: {{host: 127.0.0.1, port: {port}, "
            f"max_connections: {max_connections}}}, timeout: {timeout}, "
            f"backoff_cap: {backoff_cap}}}"
        )
    else:
        lines.append(
            f"  - {{id: gw1, rtu: {{port: 'socket://127.0.0.1:{port}', baudrate: 115200}},"
            f" timeout: {timeout}, backoff_cap: {backoff_cap}}}"
        )
    lines.append("devices:")
    for profile, units in MIXED_MODELS:
        name = profile.split("/")[1]
        lines.append(
            f"  - {{id: '{name}-{{unit}}', bus: gw1, profile: {profile}, "
            f"units: '{units.start}-{units.stop - 1}', interval: {interval}}}"
        )
    lines += extra
    path.write_text("\n".join(lines) + "\n")
    return path


def run_agent(
    site: Path, duration: float, tmp: Path, timeout: float = 120
) -> tuple[list[dict], dict]:
    """Run `steward-edge run --stdout` for `duration` s; return (readings, final stats)."""
    stats = tmp / "stats.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "run",
            str(site),
            "--stdout",
            "--duration",
            str(duration),
            "--stats-json",
            str(stats),
        ],
        capture_output=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    readings = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return readings, json.loads(stats.read_text())
