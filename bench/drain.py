"""Backlog drain: how fast an edge's outbox empties into a running central API.

    python bench/drain.py [--samples 50000] [--points 20] [--max-records 2000]
                          [--max-bytes 2000000] [--gzip-level 1] [--keep DIR]

1. Fill an outbox with `samples` readings records of `points` points each (default
   50,000 x 20 = 1,000,000 points): 250 devices (meters and HVAC units) polled every
   5 s, values drifting like real ones. The fill rate is the acquisition's cost per sample.
2. Reopen the outbox with that backlog and time open + backlog depth.
3. Start `steward-api serve` in its own process on a fresh SQLite file, register the edge
   with `steward-api edges add`, and run edge.uplink.Uplink until the outbox is empty.
4. Verify in the API's store that it holds exactly samples x points readings and that
   the edge's cursor is at the last seq.

Prints points/s, records/s, batches, bytes (JSON and gzip'd), CPU of each side, and the
outbox open time. Exit status 1 when the API's count is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
from processes import free_port, wait_for_port

from edge.model import Reading, Sample
from edge.outbox import Outbox
from edge.uplink import Uplink

SITE, BUILDING, EDGE = "bench-site", "bench-building", "bench-edge"
DEVICES = 250
POLL_S = 5.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z

METER = [
    *[(f"voltage_l{i}", "V", "gauge", 230.0, 4.0) for i in (1, 2, 3)],
    *[(f"current_l{i}", "A", "gauge", 42.0, 15.0) for i in (1, 2, 3)],
    *[(f"power_l{i}_kw", "kW", "gauge", 9.5, 3.5) for i in (1, 2, 3)],
    ("power_kw", "kW", "gauge", 28.0, 10.0),
    ("reactive_power_kvar", "kvar", "gauge", 6.0, 2.5),
    ("apparent_power_kva", "kVA", "gauge", 29.0, 10.0),
    ("power_factor", "", "gauge", 0.95, 0.03),
    ("frequency_hz", "Hz", "gauge", 50.0, 0.05),
    ("demand_kw", "kW", "gauge", 27.0, 8.0),
    ("thd_voltage_pct", "%", "gauge", 2.1, 0.6),
    ("energy_import_kwh", "kWh", "counter", 184_220.0, 0.0),
    ("energy_export_kwh", "kWh", "counter", 12.4, 0.0),
    ("reactive_energy_kvarh", "kvarh", "counter", 40_112.0, 0.0),
]
HVAC = [
    ("zone_temp_c", "degC", "gauge", 25.5, 1.5),
    ("setpoint_c", "degC", "gauge", 26.0, 0.0),
    ("supply_air_c", "degC", "gauge", 14.0, 1.0),
    ("return_air_c", "degC", "gauge", 25.0, 1.2),
    ("humidity_pct", "%", "gauge", 55.0, 8.0),
    ("co2_ppm", "ppm", "gauge", 620.0, 150.0),
    ("fan_speed_pct", "%", "gauge", 60.0, 20.0),
    ("valve_pct", "%", "gauge", 40.0, 25.0),
    ("compressor_on", "", "gauge", 1.0, 0.0),
    ("power_kw", "kW", "gauge", 3.2, 1.5),
    ("energy_kwh", "kWh", "counter", 21_700.0, 0.0),
]


def device_points(index: int, count: int) -> list[tuple[str, str, str, float, float]]:
    """`count` points of a meter (4 devices in 5) or an HVAC unit, padded with spares."""
    shape = METER if index % 5 else HVAC
    extra = [(f"aux_{k}", "", "gauge", 10.0, 5.0) for k in range(max(0, count - len(shape)))]
    return (shape + extra)[:count]


def poll_cycles(count: int, points: int, seed: int) -> Iterator[list[Sample]]:
    """`count` samples, one poll cycle (one sample per device) at a time."""
    rng = random.Random(seed)
    devices = [device_points(d, points) for d in range(DEVICES)]
    counters = [[base for *_, base, _ in pts] for pts in devices]
    cycle: list[Sample] = []
    for n in range(count):
        d = n % DEVICES
        device = f"dev{d:03d}"
        ts = T0 + (n // DEVICES) * POLL_S + d * 0.013
        day = math.sin(2 * math.pi * ((ts % 86_400) / 86_400 - 0.3))
        readings = []
        for k, (name, unit, kind, base, spread) in enumerate(devices[d]):
            if kind == "counter":
                counters[d][k] += rng.uniform(0.0, 0.05)
                value: float = round(counters[d][k], 2)
            else:
                value = round(base + spread * (0.6 * day + 0.4 * rng.uniform(-1, 1)), 3)
            readings.append(Reading(ts, device, name, value, unit, kind=kind))
        cycle.append(Sample(ts, device, readings, tags={"bus": f"rs485-{d % 8}"}))
        if len(cycle) == DEVICES:
            yield cycle
            cycle = []
    if cycle:
        yield cycle


def api_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cloud_api.cli", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


async def drain(outbox: Outbox, url: str, token: str, args: argparse.Namespace) -> dict:
    uplink = Uplink(
        outbox,
        url,
        token,
        SITE,
        BUILDING,
        max_records=args.max_records,
        max_bytes=args.max_bytes,
        gzip_level=args.gzip_level,
        stats_interval=5.0,
    )
    async with uplink:
        if not await uplink.drain(timeout=3600):
            raise RuntimeError("the backlog did not drain within an hour")
        return uplink.stats()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=50_000, help="readings records")
    parser.add_argument("--points", type=int, default=20, help="points per record")
    parser.add_argument("--max-records", type=int, default=2000, help="records per batch")
    parser.add_argument("--max-bytes", type=int, default=2_000_000, help="JSON bytes per batch")
    parser.add_argument("--gzip-level", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep the outbox and the API's files here")
    parser.add_argument("-v", "--verbose", action="store_true", help="the uplink's INFO log")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)

    load1, _, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load1:.2f} at start")
    work = Path(args.keep or tempfile.mkdtemp(prefix="steward-drain-"))
    work.mkdir(parents=True, exist_ok=True)
    outbox_path, api_db, api_log = work / "outbox.sqlite", work / "api.sqlite", work / "api.log"
    for stale in (outbox_path, api_db):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{stale}{suffix}").unlink(missing_ok=True)
    expected_points = args.samples * args.points

    # 1. the backlog
    fill_s = 0.0
    with Outbox(outbox_path, max_readings_bytes=None) as outbox:
        for cycle in poll_cycles(args.samples, args.points, args.seed):
            started = time.perf_counter()
            outbox.append_samples(cycle)  # one commit per poll cycle, as acquisition does
            fill_s += time.perf_counter() - started
    size_mb = outbox_path.stat().st_size / 1e6
    print(
        f"outbox filled: {args.samples:,} records x {args.points} points = "
        f"{expected_points:,} points in {fill_s:.1f} s "
        f"of appending ({fill_s / args.samples * 1e6:.0f} us per sample), file {size_mb:.0f} MB"
    )

    # 2. open with the full backlog
    started = time.perf_counter()
    outbox = Outbox(outbox_path, max_readings_bytes=None)
    backlog = outbox.backlog()["readings"]
    open_s = time.perf_counter() - started
    print(
        f"outbox open with the full backlog: {open_s * 1000:.1f} ms "
        f"(open {outbox.open_seconds * 1000:.1f} ms + backlog depth "
        f"{(open_s - outbox.open_seconds) * 1000:.1f} ms: {backlog.records:,} records, "
        f"{backlog.points:,} points)"
    )

    # 3. the API, and the drain
    port = free_port()
    token = api_cli(
        "edges", "add", EDGE, "--site", SITE, "--building", BUILDING, "--db", str(api_db)
    ).stdout.strip()
    with api_log.open("ab") as log_file:
        api = subprocess.Popen(
            [sys.executable, "-m", "cloud_api.cli", "serve", "--port", str(port),
             "--db", str(api_db), "--no-access-log", "--log-level", "warning"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_for_port(port, api)
        api_cpu = psutil.Process(api.pid)
        api_cpu_before = sum(api_cpu.cpu_times()[:2])
        me = psutil.Process()
        my_cpu_before = sum(me.cpu_times()[:2])
        started = time.perf_counter()
        stats = asyncio.run(drain(outbox, f"http://127.0.0.1:{port}", token, args))
        drain_s = time.perf_counter() - started
        api_cpu_s = sum(api_cpu.cpu_times()[:2]) - api_cpu_before
        my_cpu_s = sum(me.cpu_times()[:2]) - my_cpu_before
    finally:
        outbox.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(api.pid, signal.SIGTERM)
        api.wait(30)

    # 4. verify
    with contextlib.closing(sqlite3.connect(api_db)) as db:
        stored = db.execute("SELECT count(*) FROM samples").fetchone()[0]
        acked = db.execute(
            "SELECT acked FROM cursors WHERE edge = ? AND lane = 'readings'", (EDGE,)
        ).fetchone()
    sent = stats["sent"]
    ratio = sent["bytes_uncompressed"] / max(1, sent["bytes_compressed"])
    rate = expected_points / drain_s
    print(
        f"drained {sent['records']['readings']:,} records / {sent['points']:,} points in "
        f"{drain_s:.2f} s: {rate:,.0f} points/s, {sent['records']['readings'] / drain_s:,.0f} "
        f"records/s, {sent['batches']} batches "
        f"({sent['points'] / max(1, sent['batches']):,.0f} points each)"
    )
    print(
        f"bytes: {sent['bytes_uncompressed'] / 1e6:,.1f} MB JSON, "
        f"{sent['bytes_compressed'] / 1e6:,.1f} MB gzip level {args.gzip_level} "
        f"(x{ratio:.1f}); errors: {stats['errors'] or 'none'}"
    )
    print(
        f"CPU during the drain: API {api_cpu_s:.1f} s ({api_cpu_s / drain_s:.0%} of a core), "
        f"edge {my_cpu_s:.1f} s ({my_cpu_s / drain_s:.0%})"
    )
    ok = stored == expected_points and acked is not None and acked[0] == args.samples
    print(
        f"API holds {stored:,} points (expected {expected_points:,}), cursor at "
        f"{acked[0] if acked else None:,}: {'OK' if ok else 'WRONG'}; "
        f"target 50,000 points/s: {'met' if rate >= 50_000 else 'NOT met'}"
    )
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
