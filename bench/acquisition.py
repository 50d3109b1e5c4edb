"""Acquisition benchmark: 200 simulated meters x 20 points every 1 s for 60 s.

The simulator runs in its own process (steward-sim meters), the agent in another
(steward-edge run); both on loopback. Prints points/s delivered vs expected, agent CPU
milliseconds per 1000 points, requests per device per cycle, overruns and peak RSS,
against the targets of issue 2.

    python bench/acquisition.py [--meters 200] [--seconds 60] [--sink none|stdout]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

# 20 points of a Chint DTSU666: every canonical point plus per-phase reactive power and PF.
POINTS = [
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "current_l1",
    "current_l2",
    "current_l3",
    "active_power",
    "active_power_l1",
    "active_power_l2",
    "active_power_l3",
    "reactive_power",
    "reactive_power_l1",
    "reactive_power_l2",
    "reactive_power_l3",
    "power_factor",
    "power_factor_l1",
    "power_factor_l2",
    "frequency",
    "energy_import",
    "energy_export",
]
TARGET_CPU_MS = 35.0
TARGET_RSS_MB = 80.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"simulator did not listen on {port}")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--meters", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument(
        "--sink",
        choices=("none", "stdout", "outbox"),
        default="none",
        help="none: count readings only; stdout: JSON lines to /dev/null; "
        "outbox: store every poll in the durable outbox (no uplink)",
    )
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="steward-bench-"))
    port = free_port()
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators.cli",
            "meters",
            "--port",
            str(port),
            "--profile",
            "chint/dtsu666",
            "--units",
            f"1-{args.meters}",
            "--seed",
            "3",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        site = tmp / "site.yaml"
        site.write_text(
            "site: bench\nbuilding: b1\n"
            f"buses:\n  - {{id: gw, tcp: {{host: 127.0.0.1, port: {port}, "
            f"max_connections: {args.connections}}}, timeout: 1s}}\n"
            f"devices:\n  - {{id: 'meter-{{unit}}', bus: gw, profile: chint/dtsu666, "
            f"units: '1-{args.meters}', interval: {args.interval}, points: {json.dumps(POINTS)}}}\n"
            + ("outbox: {path: outbox.sqlite}\n" if args.sink == "outbox" else "")
        )
        stats_file = tmp / "stats.json"
        cmd = [
            sys.executable,
            "-m",
            "edge.cli",
            "run",
            str(site),
            "--duration",
            str(args.seconds),
            "--stats-json",
            str(stats_file),
            "--status-every",
            "3600",
        ]
        if args.sink == "stdout":
            cmd.append("--stdout")
        print(
            f"bench: {args.meters} meters x {len(POINTS)} points every {args.interval:g} s "
            f"for {args.seconds:g} s (sink: {args.sink}) ...",
            flush=True,
        )
        sim_cpu0 = psutil.Process(sim.pid).cpu_times()
        agent = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, err = agent.communicate(timeout=args.seconds + 120)
        if agent.returncode != 0:
            print(err.decode()[-3000:], file=sys.stderr)
            return 1
        sim_cpu1 = psutil.Process(sim.pid).cpu_times()
    finally:
        sim.terminate()
        sim.wait(10)

    s = json.loads(stats_file.read_text())
    expected_rate = args.meters * len(POINTS) / args.interval
    delivered_rate = s["points"] / s["uptime"]
    good = sum(d["points_good"] for d in s["devices"].values())
    cpu_ms_per_1000 = s["cpu_seconds"] * 1000 / s["points"] * 1000
    req_per_cycle = s["requests"] / s["polls"]
    sim_cpu = (sim_cpu1.user + sim_cpu1.system) - (sim_cpu0.user + sim_cpu0.system)
    ok = lambda cond: "ok" if cond else "MISSED"  # noqa: E731
    rows = [
        (
            "points/s delivered",
            f"{delivered_rate:,.0f}",
            f"expected {expected_rate:,.0f}",
            ok(delivered_rate >= expected_rate * 0.99),
        ),
        ("good points", f"{good:,} of {s['points']:,}", "", ok(good == s["points"])),
        (
            "agent CPU ms / 1000 points",
            f"{cpu_ms_per_1000:.1f}",
            f"target < {TARGET_CPU_MS:g}",
            ok(cpu_ms_per_1000 < TARGET_CPU_MS),
        ),
        ("agent CPU, % of one core", f"{100 * s['cpu_seconds'] / s['uptime']:.1f}", "", ""),
        ("requests per device per cycle", f"{req_per_cycle:.2f}", "ThingsBoard: 20", ""),
        ("registers read / used", f"{s['registers_read']:,} / {s['registers_used']:,}", "", ""),
        ("overruns", f"{s['overruns']}", "target 0", ok(s["overruns"] == 0)),
        ("errors", f"{s['errors']}", "", ok(s["errors"] == 0)),
        (
            "agent peak RSS MB",
            f"{s['peak_rss_mb']:.1f}",
            f"target < {TARGET_RSS_MB:g}",
            ok(s["peak_rss_mb"] < TARGET_RSS_MB),
        ),
        ("simulator CPU s (own process)", f"{sim_cpu:.1f}", "", ""),
    ]
    for name, value, ref, verdict in rows:
        print(f"  {name:<32} {value:>18}  {ref:<18} {verdict}")
    return 0 if all(r[3] != "MISSED" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
